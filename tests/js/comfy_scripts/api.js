// Stand-in for ComfyUI's scripts/api.js: server messages arrive as CustomEvents with a `detail`; fetchApi answers
// from `api.routes` (path -> JSON body), as the server's /history/<prompt id> would.
export const api = new EventTarget();
api.routes = {};
api.fetchApi = async (path) => {
  const body = api.routes[path];
  return { ok: body !== undefined, status: body === undefined ? 404 : 200, json: async () => body };
};
