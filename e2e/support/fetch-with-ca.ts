import https from 'node:https';

/**
 * A fetch for oauth4webapi's customFetch that trusts the test PKI's CA
 * (Node's own fetch takes no CA): the e2e clients talk to Kubegate over https.
 */
export function fetchWithCa(caPem: string) {
  return (url: string, options: { method?: string; headers?: Headers | Record<string, string>; body?: unknown }): Promise<Response> =>
    new Promise((resolve, reject) => {
      const headers = Object.fromEntries(new Headers(options.headers as HeadersInit).entries());
      const req = https.request(url, { method: options.method ?? 'GET', headers, ca: caPem }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: h }));
        });
      });
      req.on('error', reject);
      req.end(options.body === undefined ? undefined : String(options.body));
    });
}
