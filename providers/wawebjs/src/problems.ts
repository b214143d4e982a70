// RFC 9457 problem documents with the protocol's stable codes (docs/worker-protocol.md §8).

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string = "",
  ) {
    super(`${status} ${code}${detail ? `: ${detail}` : ""}`);
  }

  body(): Record<string, unknown> {
    const body: Record<string, unknown> = {
      type: `urn:whatsapp-gateway:problem:${this.code}`,
      title: this.code,
      status: this.status,
      code: this.code,
    };
    if (this.detail) body.detail = this.detail;
    return body;
  }
}

export const invalidRequest = (detail: string): Problem => new Problem(422, "invalid_request", detail);
export const invalidRecipient = (detail: string): Problem => new Problem(422, "invalid_recipient", detail);
export const notConnected = (state: string): Problem =>
  new Problem(409, "not_connected", `The instance is not connected (state: ${state}).`);
export const engineUnavailable = (detail: string): Problem => new Problem(503, "engine_unavailable", detail);
