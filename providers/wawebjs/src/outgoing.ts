// A built send (sends.ts) made into whatsapp-web.js's content objects: MessageMedia, Location, Poll, or a string.

import wwebjs from "whatsapp-web.js";
import type WAWebJS from "whatsapp-web.js";
import { Problem, invalidRequest } from "./problems.js";
import type { Content, MediaSource } from "./sends.js";

const { MessageMedia, Location, Poll } = wwebjs;

export type EngineContent = string | WAWebJS.MessageMedia | WAWebJS.Location | WAWebJS.Poll;

const FALLBACK_MIMETYPES: Readonly<Record<string, string>> = {
  image: "image/jpeg",
  video: "video/mp4",
  audio: "audio/ogg; codecs=opus",
  sticker: "image/webp",
  document: "application/octet-stream",
};

export type Download = (url: string, limit: number) => Promise<{ data: Buffer; mimetype?: string }>;

/** Media at a URL, refused past `limit` bytes (413) and on any failure to fetch it (422). */
export const download: Download = async (url, limit) => {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(60_000), redirect: "follow" });
  } catch (error) {
    throw invalidRequest(`Could not download the media: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!response.ok) throw invalidRequest(`Could not download the media: HTTP ${response.status}.`);
  const tooLarge = new Problem(413, "media_too_large", `The media exceeds ${limit} bytes.`);
  if (Number(response.headers.get("content-length") ?? 0) > limit) throw tooLarge;
  const data = Buffer.from(await response.arrayBuffer());
  if (data.length > limit) throw tooLarge;
  if (data.length === 0) throw invalidRequest("The media at `media.url` is empty.");
  const mimetype = response.headers.get("content-type")?.split(";")[0]?.trim();
  return mimetype ? { data, mimetype } : { data };
};

export async function engineMedia(
  source: MediaSource,
  type: string,
  fetchMedia: Download = download,
): Promise<WAWebJS.MessageMedia> {
  let data = source.base64;
  let mimetype = source.mimetype;
  let size: number | null = data === undefined ? null : Buffer.byteLength(data, "base64");
  if (data === undefined) {
    const fetched = await fetchMedia(source.url!, source.limit);
    data = fetched.data.toString("base64");
    size = fetched.data.length;
    mimetype ??= fetched.mimetype;
  }
  return new MessageMedia(
    mimetype ?? FALLBACK_MIMETYPES[type] ?? "application/octet-stream",
    data,
    source.filename ?? null,
    size,
  );
}

export async function engineContent(content: Content, fetchMedia: Download = download): Promise<EngineContent> {
  switch (content.kind) {
    case "text":
      return content.text;
    case "vcard":
      return content.vcard;
    case "location": {
      const description: { name?: string; address?: string } = {};
      if (content.name) description.name = content.name;
      if (content.address) description.address = content.address;
      return new Location(content.latitude, content.longitude, description);
    }
    case "poll":
      // The typings require messageSecret; whatsapp-web.js makes a random one when it is left undefined.
      return new Poll(content.name, content.options, {
        allowMultipleAnswers: content.allowMultipleAnswers,
        messageSecret: undefined,
      });
    case "media":
      return engineMedia(content.media, content.type, fetchMedia);
  }
}
