import type { VercelRequest, VercelResponse } from '../src/http';
import { methodNotAllowed } from '../src/http';

export default function handler(req: VercelRequest, res: VercelResponse): void {
  if (req.method !== 'GET') {
    methodNotAllowed(res, ['GET']);
    return;
  }
  res.status(200).json({ status: 'ok', time: new Date().toISOString() });
}
