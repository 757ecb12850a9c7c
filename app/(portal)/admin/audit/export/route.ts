import { auditExport } from '@/lib/portal/admin/export';

/** GET /admin/audit/export?format=csv|json&kind=…: the filtered audit trail as a download (admins only; 404 otherwise). */
export const GET = (req: Request) => auditExport(req);
