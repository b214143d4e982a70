// whatsapp-web.js's RemoteAuth, with its session extraction made complete before Chromium starts.
//
// RemoteAuth unzips the stored profile through unzipper's streaming `Extract` and goes on at its `finish` event,
// which fires before every file is written: Chromium could then open a half-restored profile (seen in this
// worker's tests as missing IndexedDB files). Extracting from the central directory resolves only once all is written.

import { createRequire } from "node:module";
import fs from "node:fs/promises";
import wwebjs from "whatsapp-web.js";

const require = createRequire(import.meta.url);
const unzipper = require("unzipper") as {
  Open: { file(path: string): Promise<{ extract(options: { path: string; concurrency?: number }): Promise<void> }> };
};

export class CompleteRemoteAuth extends wwebjs.RemoteAuth {
  // Replaces RemoteAuth.unCompressSession (not in the typings).
  async unCompressSession(compressedSessionPath: string): Promise<void> {
    const directory = await unzipper.Open.file(compressedSessionPath);
    await directory.extract({ path: (this as unknown as { userDataDir: string }).userDataDir, concurrency: 4 });
    await fs.unlink(compressedSessionPath);
  }
}
