// The TypeScript MCP SDK's client: launch `intentkb mcp` over stdio, list the tools, call
// retrieve_products and a failing explain_copurchase, print what the client received as JSON.
// usage: node client.mjs PYTHON "need text"   (INTENTKB_HOME in the environment)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [python, need] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command: python,
  args: ["-m", "intentkb.cli.main", "mcp"],
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "intentkb-ts-test", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const hit = await client.callTool({ name: "retrieve_products", arguments: { step_or_need: need, k: 3 } });
const bad = await client.callTool({ name: "explain_copurchase", arguments: { product_a: "B000NOSUCH", product_b: "B00PYV5HGC" } });
const status = await client.callTool({ name: "kb_status", arguments: {} });
console.log(
  JSON.stringify({
    server: client.getServerVersion(),
    tools: tools.tools.map((t) => ({ name: t.name, readOnly: t.annotations?.readOnlyHint ?? null })),
    retrieve: { isError: hit.isError ?? false, structured: hit.structuredContent },
    bad: { isError: bad.isError ?? false, text: bad.content?.[0]?.text ?? "" },
    status: { isError: status.isError ?? false, engine: status.structuredContent?.engine },
  }),
);
await client.close();
