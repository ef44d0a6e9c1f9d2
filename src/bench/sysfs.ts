/**
 * CPU frequency and temperature from Linux's /sys (and /proc/cpuinfo as a fallback for the
 * frequency), sampled in a worker thread so samples keep coming while the main thread is blocked
 * inside an MLX eval. Everything is optional: what cannot be read is reported as such, never an error.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export type SensorReader = 'khz-mean' | 'khz-max' | 'milli' | 'cpuinfo-mean';

export interface SensorSource {
  /** Counter track name: 'cpu frequency (mean of 8 cpus)', 'temperature x86_pkg_temp'. */
  name: string;
  unit: 'MHz' | '°C';
  kind: 'frequency' | 'temperature';
  files: string[];
  reader: SensorReader;
}

export interface SensorAvailability {
  readable: boolean;
  /** Where the values come from, or why there are none ('not readable here: ...'). */
  detail: string;
}

export interface SensorScan {
  sources: SensorSource[];
  frequency: SensorAvailability;
  temperature: SensorAvailability;
}

export interface CounterTrack {
  name: string;
  unit: string;
  /** [monotonic ns, value] until converted to the trace's origin. */
  samples: Array<[t: number, value: number]>;
}

/**
 * The files' text as one value. Self-contained (no outside references): the sampler worker runs
 * its source text.
 */
export function parseSensor(reader: SensorReader, texts: Array<string | null>): number | null {
  const nums: number[] = [];
  if (reader === 'cpuinfo-mean') {
    const text = texts[0];
    if (!text) return null;
    const re = /^cpu MHz\s*:\s*([\d.]+)/gm;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) nums.push(Number(m[1]));
    return nums.length ? nums.reduce((a, b) => a + b, 0) / nums.length : null;
  }
  for (const t of texts) {
    if (t === null) continue;
    const v = Number(t.trim());
    if (t.trim() !== '' && Number.isFinite(v)) nums.push(v);
  }
  if (nums.length === 0) return null;
  if (reader === 'khz-mean') return nums.reduce((a, b) => a + b, 0) / nums.length / 1000;
  if (reader === 'khz-max') return Math.max(...nums) / 1000;
  if (reader === 'milli') return nums[0] / 1000;
  return null;
}

export function readSensor(s: SensorSource): number | null {
  return parseSensor(s.reader, s.files.map(readText));
}

/** What this machine lets us read. `root` is '/' except in tests, which build a small /sys tree. */
export function findSensors(root = '/'): SensorScan {
  const sources: SensorSource[] = [];
  const frequency = findFrequency(root, sources);
  const temperature = findTemperature(root, sources);
  return { sources, frequency, temperature };
}

function findFrequency(root: string, sources: SensorSource[]): SensorAvailability {
  const cpuDir = join(root, 'sys/devices/system/cpu');
  const files = list(cpuDir)
    .filter((n) => /^cpu\d+$/.test(n))
    .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
    .map((n) => join(cpuDir, n, 'cpufreq/scaling_cur_freq'))
    .filter((f) => parseSensor('khz-mean', [readText(f)]) !== null);
  if (files.length > 0) {
    const n = files.length;
    sources.push({ name: n > 1 ? `cpu frequency (mean of ${n} cpus)` : 'cpu frequency', unit: 'MHz', kind: 'frequency', files, reader: 'khz-mean' });
    if (n > 1) sources.push({ name: `cpu frequency (max of ${n} cpus)`, unit: 'MHz', kind: 'frequency', files, reader: 'khz-max' });
    return { readable: true, detail: `${join(cpuDir, 'cpu*/cpufreq/scaling_cur_freq')} (${n} cpus)` };
  }
  const cpuinfo = join(root, 'proc/cpuinfo');
  if (parseSensor('cpuinfo-mean', [readText(cpuinfo)]) !== null) {
    sources.push({ name: 'cpu frequency (/proc/cpuinfo)', unit: 'MHz', kind: 'frequency', files: [cpuinfo], reader: 'cpuinfo-mean' });
    return {
      readable: true,
      detail: `${join(cpuDir, 'cpu*/cpufreq/scaling_cur_freq')} not readable here; using "cpu MHz" from ${cpuinfo} (in a VM this is often the host's nominal rate)`,
    };
  }
  return { readable: false, detail: `not readable here (no ${join(cpuDir, 'cpu*/cpufreq/scaling_cur_freq')}, no "cpu MHz" in ${cpuinfo})` };
}

function findTemperature(root: string, sources: SensorSource[]): SensorAvailability {
  const found: string[] = [];
  const thermal = join(root, 'sys/class/thermal');
  for (const z of list(thermal).filter((n) => /^thermal_zone\d+$/.test(n)).sort(byNumber)) {
    const file = join(thermal, z, 'temp');
    if (parseSensor('milli', [readText(file)]) === null) continue;
    const type = readText(join(thermal, z, 'type'))?.trim() || z;
    sources.push({ name: `temperature ${type}`, unit: '°C', kind: 'temperature', files: [file], reader: 'milli' });
    found.push(file);
  }
  const hwmon = join(root, 'sys/class/hwmon');
  for (const h of list(hwmon).filter((n) => /^hwmon\d+$/.test(n)).sort(byNumber)) {
    const dir = join(hwmon, h);
    const chip = readText(join(dir, 'name'))?.trim() || h;
    for (const f of list(dir).filter((n) => /^temp\d+_input$/.test(n)).sort(byNumber)) {
      const file = join(dir, f);
      if (parseSensor('milli', [readText(file)]) === null) continue;
      const label = readText(join(dir, f.replace('_input', '_label')))?.trim() || f.replace('_input', '');
      sources.push({ name: `temperature ${chip} ${label}`, unit: '°C', kind: 'temperature', files: [file], reader: 'milli' });
      found.push(file);
    }
  }
  if (found.length > 0) return { readable: true, detail: `${found.length} sensor${found.length > 1 ? 's' : ''} (${found.slice(0, 3).join(', ')}${found.length > 3 ? ', ...' : ''})` };
  return { readable: false, detail: `not readable here (no readable ${join(thermal, 'thermal_zone*/temp')} or ${join(hwmon, 'hwmon*/temp*_input')})` };
}

/**
 * Samples the sources every `intervalMs` in a worker thread (an MLX eval blocks the main thread, and
 * a throttling CPU is exactly what shows up during long evals). Times are process.hrtime
 * (CLOCK_MONOTONIC, the clock of the trace's spans).
 */
export class SensorSampler {
  private _worker: Worker | null = null;
  private _result: Promise<Array<Array<[number, number]>>> | null = null;

  constructor(private readonly _sources: SensorSource[], private readonly _intervalMs = 100) {}

  start(): void {
    if (this._sources.length === 0 || this._worker) return;
    const code = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const parseSensor = ${parseSensor.toString()};
const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return null; } };
const samples = workerData.sources.map(() => []);
const sample = () => {
  const t = Number(process.hrtime.bigint());
  workerData.sources.forEach((s, i) => {
    const v = parseSensor(s.reader, s.files.map(read));
    if (v !== null) samples[i].push([t, v]);
  });
};
sample();
const timer = setInterval(sample, workerData.intervalMs);
parentPort.once('message', () => { clearInterval(timer); sample(); parentPort.postMessage(samples); parentPort.close(); });
parentPort.postMessage('ready');
`;
    const worker = new Worker(code, { eval: true, workerData: { sources: this._sources, intervalMs: this._intervalMs } });
    this._worker = worker;
    let ready: () => void = () => {};
    const started = new Promise<void>((r) => (ready = r));
    this._result = new Promise((resolve) => {
      const empty = () => resolve(this._sources.map(() => []));
      worker.on('message', (m) => {
        if (m === 'ready') ready();
        else resolve(m);
      });
      worker.on('error', () => (ready(), empty()));
      worker.on('exit', () => (ready(), empty()));
    });
    this.ready = started;
  }

  /** Resolves once the worker took its first sample (so a short run still has one). */
  ready: Promise<void> = Promise.resolve();

  /** Stops sampling; one track per source, possibly empty. */
  async stop(): Promise<CounterTrack[]> {
    if (!this._worker || !this._result) return [];
    await this.ready;
    this._worker.postMessage('stop');
    const samples = await this._result;
    await this._worker.terminate().catch(() => 0);
    this._worker = null;
    return this._sources.map((s, i) => ({ name: s.name, unit: s.unit, samples: samples[i] ?? [] }));
  }
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function byNumber(a: string, b: string): number {
  return Number(/\d+/.exec(a)?.[0] ?? 0) - Number(/\d+/.exec(b)?.[0] ?? 0);
}
