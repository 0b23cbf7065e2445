/**
 * The slice of Vercel's Node.js function signature this app uses.
 * Declared locally so type-checking does not need @vercel/node.
 */
export interface VercelRequest {
  readonly method?: string;
  readonly url?: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Query string and dynamic path segments, e.g. `id` for `api/orders/[id].ts`. */
  readonly query: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

export interface VercelResponse {
  status(statusCode: number): VercelResponse;
  json(body: unknown): VercelResponse;
  send(body: string): VercelResponse;
  setHeader(name: string, value: string | readonly string[]): VercelResponse;
  end(): void;
}

export type VercelHandler = (req: VercelRequest, res: VercelResponse) => unknown;

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

export function sendError(res: VercelResponse, statusCode: number, code: string, message: string): void {
  const body: ErrorBody = { error: { code, message } };
  res.status(statusCode).json(body);
}

export function methodNotAllowed(res: VercelResponse, allowed: readonly string[]): void {
  res.setHeader('Allow', allowed.join(', '));
  sendError(res, 405, 'method_not_allowed', `Use ${allowed.join(' or ')}`);
}

/** First value of a query parameter, or undefined. */
export function queryParam(req: VercelRequest, name: string): string | undefined {
  const value = req.query[name];
  return Array.isArray(value) ? value[0] : value;
}
