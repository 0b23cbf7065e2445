// Preloaded into the MCP conformance suite (node --import) by tests/e2e/test_conformance.py: every HTTP request
// it sends carries `Authorization: Bearer $STORYFENCE_TOKEN`, as a client configured with the server's token
// does. `storyfence serve --http` refuses any request without it, and the suite has no option to send a header.
// The suite sends through fetch and undici (the global dispatcher below) and through node:http (wrapped below);
// nothing else is changed, so the Host and Origin checks are tested as they are.
import http from 'node:http';
import { Agent, setGlobalDispatcher } from 'undici';

const token = process.env.STORYFENCE_TOKEN;
if (!token) {
  throw new Error('conformance-bearer.mjs: set STORYFENCE_TOKEN to the token the server requires');
}
const authorization = `Bearer ${token}`;

function withAuthorization(headers) {
  if (headers == null) return { authorization };
  if (Array.isArray(headers)) return [...headers, 'authorization', authorization];
  if (typeof headers[Symbol.iterator] === 'function') return [...[...headers].flat(), 'authorization', authorization];
  return { ...headers, authorization };
}

setGlobalDispatcher(
  new Agent().compose((dispatch) => (options, handler) =>
    dispatch({ ...options, headers: withAuthorization(options.headers) }, handler),
  ),
);

const request = http.request;
http.request = function requestWithAuthorization(options, ...rest) {
  if (options && typeof options === 'object' && !(options instanceof URL)) {
    options = { ...options, headers: withAuthorization(options.headers) };
  }
  return request.call(this, options, ...rest);
};
