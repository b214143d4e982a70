// RemoteAuth's store on the state store's snapshot API (docs/worker-protocol.md §7).
//
// whatsapp-web.js's RemoteAuth zips the parts of the Chromium profile that hold the WhatsApp Web session
// (IndexedDB, Local Storage) to `<dataPath>/<session>.zip` and hands it to a store; on start it asks the store
// whether a session exists and has it extracted to a path. Here that zip is one snapshot, so the session lives in
// the control plane and survives a restart, a `kill -9` and a migration to another node.
//
// The worker reads the snapshot once, before it starts the browser (and before it reports any state past
// `connecting`); RemoteAuth's later questions are answered from that copy, which is also kept up to date by saves:
// under fencing this worker is the only writer.

import fs from "node:fs/promises";
import path from "node:path";
import { GatewayUnavailable, SnapshotConflict, type GatewayClient } from "./gateway.js";
import type { Logger } from "./log.js";

export const SNAPSHOT_NAME = "wwebjs-session";

export class SnapshotStore {
  private content: Buffer | null = null;
  private generation = 0;
  private loaded = false;

  constructor(
    private readonly gateway: GatewayClient,
    private readonly dataPath: string,
    private readonly log: Logger,
  ) {}

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Read the stored session (throws GatewayUnavailable / EpochSuperseded; the caller retries). */
  async load(): Promise<void> {
    const snapshot = await this.gateway.getSnapshot(SNAPSHOT_NAME);
    this.generation = snapshot?.generation ?? 0;
    // An empty generation is a session wiped by a logout (the snapshot API has no delete).
    this.content = snapshot && snapshot.content.length > 0 ? snapshot.content : null;
    this.loaded = true;
    this.log.info("session snapshot read", { generation: this.generation, bytes: this.content?.length ?? 0 });
  }

  // The RemoteAuth store interface.

  async sessionExists(_options: { session: string }): Promise<boolean> {
    if (!this.loaded) await this.load();
    return this.content !== null;
  }

  async extract(options: { session: string; path: string }): Promise<void> {
    if (this.content === null) throw new Error("no stored session to extract");
    await fs.mkdir(path.dirname(options.path), { recursive: true });
    await fs.writeFile(options.path, this.content);
  }

  async save(options: { session: string }): Promise<void> {
    const content = await fs.readFile(path.join(this.dataPath, `${options.session}.zip`));
    await this.write(content);
    this.log.info("session snapshot saved", { generation: this.generation, bytes: content.length });
  }

  async delete(_options: { session: string }): Promise<void> {
    // RemoteAuth deletes the stored session on any WhatsApp Web state it does not accept, a passing CONFLICT or
    // UNLAUNCHED included. Only a logout or an unlink by the phone ends a session: the worker calls `wipe` for those.
    this.log.info("RemoteAuth asked to delete the stored session; kept unless the device was unlinked");
  }

  /** Forget the session (logout, unlinked): an empty generation, as the snapshot API has no delete. */
  async wipe(): Promise<void> {
    if (!this.loaded) await this.load();
    if (this.content === null) return;
    await this.write(Buffer.alloc(0));
    this.log.info("session snapshot wiped", { generation: this.generation });
  }

  private async write(content: Buffer): Promise<void> {
    try {
      this.generation = await this.gateway.putSnapshot(SNAPSHOT_NAME, content, this.generation);
    } catch (error) {
      if (!(error instanceof SnapshotConflict)) throw error;
      // Our own earlier write landed but its answer was lost; learn the newest generation and write on top of it.
      const newest = await this.gateway.getSnapshot(SNAPSHOT_NAME);
      if (newest === null) throw new GatewayUnavailable("snapshot vanished during a generation conflict");
      this.generation = await this.gateway.putSnapshot(SNAPSHOT_NAME, content, newest.generation);
    }
    this.content = content.length > 0 ? content : null;
  }
}
