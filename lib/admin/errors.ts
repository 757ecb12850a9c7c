import { AppError } from '../util/errors';

/** An expected failure of an admin command (bad arguments, unknown id): its message is shown, not a stack. */
export class AdminError extends AppError {}
