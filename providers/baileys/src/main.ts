// `node dist/main.js`, the worker's entry point (protocol §1).
//
// Before anything else is loaded, the young generation is capped: Baileys and protobufjs allocate many short-lived
// objects, and V8's default semi-spaces (up to 16 MB each) would hold ~30 MB of idle RSS for no benefit. Only this
// module's static imports run before the flag is set, hence the dynamic import of the worker itself.
// WAGW_NODE_SEMI_SPACE_MB overrides the cap (0 keeps V8's default).

import { setFlagsFromString } from "node:v8";

const semiSpaceMb = Number(process.env.WAGW_NODE_SEMI_SPACE_MB ?? "1");
if (Number.isInteger(semiSpaceMb) && semiSpaceMb > 0) setFlagsFromString(`--max-semi-space-size=${semiSpaceMb}`);

await import("./cli.js");
