// Chromium processes: the launch options, and making sure none outlives the worker.

import fs from "node:fs";

/** Flags that keep a headless Chromium small and quiet on a host that reaches nothing but WhatsApp. */
export const CHROMIUM_ARGS = [
  // What any headless Chromium on a closed network needs (docs/providers/wawebjs.md, "Chromium").
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--disable-extensions",
  "--disable-default-apps",
  "--mute-audio",
  "--no-default-browser-check",
  // No crash reporter: its handlers detach from the browser (their parent is init) and write under HOME.
  "--disable-crash-reporter",
  "--disable-crashpad-for-testing",
  // Memory (bench/idle_rss.py): one page needs one renderer, no zygotes, no GPU process, no site isolation, the
  // network service in the browser process.
  "--no-zygote",
  "--in-process-gpu",
  "--renderer-process-limit=1",
  "--disable-site-isolation-trials",
  "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,site-per-process,IsolateOrigins,SpareRendererForSitePerProcess,BackForwardCache",
  "--enable-features=NetworkServiceInProcess2",
  "--disable-software-rasterizer",
  "--js-flags=--max-old-space-size=256",
];

/** The flags of one launch: the worker's, `--single-process` when configured, then the configured extras. */
export function chromiumArgs(singleProcess: boolean, extra: readonly string[]): string[] {
  return [...CHROMIUM_ARGS, ...(singleProcess ? ["--single-process"] : []), ...extra];
}

/**
 * Pids of Chromium processes whose command line names `userDataDir`: those of this worker, or the orphans of a
 * predecessor killed with SIGKILL on this DATA_DIR (they would hold the profile's lock and its memory).
 */
export function browserPids(userDataDir: string): number[] {
  const needle = `--user-data-dir=${userDataDir}`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args.includes(needle)) pids.push(pid);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

export function killBrowsers(userDataDir: string): number {
  const pids = browserPids(userDataDir);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  return pids.length;
}
