/** Port the API dev server listens on (`vercel dev --listen 3001`). */
export const API_PORT = Number(process.env.API_PORT ?? 3001);

/** Connection string for the Postgres adapter (not used by the in-memory adapter). */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://dev:dev@localhost:5432/dev';
