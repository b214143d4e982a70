// Errors answered as RFC 9457 problem documents (protocol §8).

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Unauthorized",
  404: "Not found",
  405: "Method not allowed",
  409: "Conflict",
  413: "Content too large",
  422: "Unprocessable content",
  500: "Internal error",
  501: "Not implemented",
  503: "Service unavailable",
};

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${status} ${code}: ${detail}`);
  }

  document(): Record<string, unknown> {
    return {
      type: "about:blank",
      title: TITLES[this.status] ?? "Error",
      status: this.status,
      detail: this.detail,
      code: this.code,
    };
  }
}

export const invalidRequest = (detail: string): Problem => new Problem(422, "invalid_request", detail);
export const notConnected = (): Problem =>
  new Problem(409, "not_connected", "The worker is not connected to WhatsApp.");
export const engineUnavailable = (detail: string): Problem => new Problem(503, "engine_unavailable", detail);
export const alreadyConnected = (): Problem => new Problem(409, "already_connected", "The device is already linked.");
