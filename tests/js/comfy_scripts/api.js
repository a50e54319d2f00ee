// Stand-in for ComfyUI's scripts/api.js: server messages arrive as CustomEvents with a `detail`.
export const api = new EventTarget();
