// Inbound media: the worker keeps WhatsApp's CDN reference of each attachment (not the bytes) under
// `DATA_DIR/media/<sha256>.json`, and downloads and decrypts it when the control plane asks (`GET /v1/media/{id}`).
// The id is the file's SHA-256 as WhatsApp announced it; the bytes are checked against it before they are served
// and then cached next to the reference.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

import { downloadContentFromMessage } from "baileys";

import { decodeValue, encodeValue } from "./auth-state.js";
import type { StoredMedia } from "./translate.js";

const MEDIA_ID = /^[0-9a-f]{64}$/;

export class MediaStore {
  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  remember(media: StoredMedia): void {
    if (!MEDIA_ID.test(media.id)) return;
    const file = path.join(this.dir, `${media.id}.json`);
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, encodeValue(media));
    fs.renameSync(tmp, file);
  }

  find(id: string): StoredMedia | null {
    if (!MEDIA_ID.test(id)) return null;
    try {
      return decodeValue(fs.readFileSync(path.join(this.dir, `${id}.json`), "utf8")) as StoredMedia;
    } catch {
      return null;
    }
  }

  /** The bytes of a remembered attachment: from the cache, else from WhatsApp's CDN. */
  async bytes(media: StoredMedia): Promise<Buffer> {
    const cached = path.join(this.dir, `${media.id}.bin`);
    try {
      return await fs.promises.readFile(cached);
    } catch {
      // not downloaded yet
    }
    const stream = await downloadContentFromMessage(
      { mediaKey: media.mediaKey ?? null, directPath: media.directPath ?? null, url: media.url ?? null },
      media.mediaType,
    );
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    if (createHash("sha256").update(data).digest("hex") !== media.id) {
      throw new Error("downloaded media does not match its SHA-256");
    }
    await fs.promises.writeFile(`${cached}.tmp`, data);
    await fs.promises.rename(`${cached}.tmp`, cached);
    return data;
  }
}
