// ParagonSR2 node pack frontend: model facts on the loader, context-dependent widgets, and the live
// training-loss curve; the logic is in paragonsr2_core.js. Plain ES module, no build step.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  DEPENDENT_WIDGETS, TEXT_NODES, addLoss, hookNodeType, showHistory, showOutput, syncWidgets, watchWidgets,
} from "./paragonsr2_core.js";

function nodeById(id) {
  return app.graph?.getNodeById(Number(id) || id);
}

app.registerExtension({
  name: "ParagonSR2.NodePack",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (TEXT_NODES.has(nodeData.name) || DEPENDENT_WIDGETS[nodeData.name]) hookNodeType(nodeType, nodeData.name);
  },

  nodeCreated(node) {
    watchWidgets(node);
  },

  // After a workflow (file, template, undo step) is loaded: configure already synced; this covers frontends
  // that set widget values after configure.
  loadedGraphNode(node) {
    syncWidgets(node);
  },

  setup() {
    api.addEventListener("executed", ({ detail }) => {
      const node = nodeById(detail?.display_node ?? detail?.node);
      if (node && TEXT_NODES.has(node.comfyClass)) showOutput(node, detail.output);
    });
    api.addEventListener("execution_success", async ({ detail }) => {
      const id = detail?.prompt_id;
      if (!id) return;
      try {
        const res = await api.fetchApi(`/history/${encodeURIComponent(id)}`);
        if (res.ok) showHistory(await res.json(), id, nodeById);
      } catch (e) {
        console.warn("ParagonSR2: could not read the run's outputs from /history", e);
      }
    });
    api.addEventListener("paragonsr2.train", ({ detail }) => {
      const node = nodeById(detail?.node);
      if (node) addLoss(node, detail);
    });
  },
});
