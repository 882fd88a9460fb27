// Errors the API turns into {code, message, field?} with an HTTP status (see the handler in server.ts).
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}
