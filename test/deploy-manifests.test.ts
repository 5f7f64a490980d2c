/**
 * The deployment files under deploy/ against the signer itself: every flag and LP_ environment
 * variable they set goes through the real flag table and loadConfig (with the Secret's files
 * mounted where the flags point), the ports and probe paths are the ones the signer serves, the
 * Kubernetes objects select each other, and the containers and the unit are locked down.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { parseAllDocuments } from "yaml";
import { FLAGS, isLoopbackHost, loadConfig, parseFlags, type Config } from "../src/config.js";
import { createReadiness, serveProbe } from "../src/server/health.js";
import { SIGNER_V8_FLAGS } from "../src/cluster/v8-flags.js";

const K8S = "deploy/kubernetes";
const SYSTEMD = "deploy/systemd";
/** Kubernetes reads YAML 1.1 (0440 is octal there, as in its own examples). */
const parseYaml = (file: string) =>
  parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" }).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as Manifest;
  });

// Only the fields the checks read.
type Labels = Record<string, string>;
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Labels };
  [field: string]: unknown;
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
  resources: { requests: { cpu: string; memory: string }; limits?: { cpu?: string; memory?: string } };
  securityContext: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  automountServiceAccountToken?: boolean;
  securityContext: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] }; emptyDir?: object }[];
}
interface Deployment extends Manifest {
  spec: { replicas: number; selector: { matchLabels: Labels }; template: { metadata: { labels: Labels }; spec: PodSpec } };
}

const manifestFiles = readdirSync(K8S).filter((f) => f.endsWith(".yaml"));
const all = manifestFiles.flatMap((f) => parseYaml(join(K8S, f)).map((m) => ({ file: f, m })));
const one = <T extends Manifest>(kind: string): T => {
  const found = all.filter(({ m }) => m.kind === kind && m.metadata.name === "lpsigner");
  expect(found.map((f) => f.file), kind).toHaveLength(1);
  return found[0]!.m as T;
};
const subsetOf = (selector: Labels, labels: Labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);

const deployment = one<Deployment>("Deployment");
const pod = deployment.spec.template.spec;
const podLabels = deployment.spec.template.metadata.labels;
const container = pod.containers.find((c) => c.name === "lpsigner")!;
const secret = one<Manifest & { stringData: Record<string, string> }>("Secret");

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A directory standing for the root filesystem: files appear where the manifests mount them. */
function fakeRoot(): { root: string; place(path: string, content: string): void; map(path: string): string } {
  const root = mkdtempSync(join(tmpdir(), "lpsigner-deploy-"));
  dirs.push(root);
  const map = (path: string) => (path.startsWith("/") ? join(root, path) : path);
  return {
    root,
    map,
    place(path, content) {
      mkdirSync(dirname(map(path)), { recursive: true });
      writeFileSync(map(path), content);
    },
  };
}

/** Flags that name files are read from the fake root; the rest are as written. */
const FILE_FLAGS = ["ethKeystorePath", "ethPassword", "tlsCert", "tlsKey", "dataDir", "maxPricePerCapability"];
function loadAt(root: { map(path: string): string }, argv: string[], env: NodeJS.ProcessEnv): { flags: NonNullable<ReturnType<typeof parseFlags>>; config: Config } {
  const flags = parseFlags(argv, env);
  expect(flags, "-help in the flags").toBeDefined();
  const mapped = { ...flags! };
  for (const name of FILE_FLAGS) if (mapped[name as keyof typeof mapped]) mapped[name as keyof typeof mapped] = root.map(mapped[name as keyof typeof mapped]);
  // No LPSIGNER_UNSAFE_DEV_PRIVATE_KEY or HOME from the test's own environment.
  return { flags: flags!, config: loadConfig(mapped, {}) };
}

/** LP_<NAME> names a flag of the table (as parseFlags reads the environment). */
const flagOfEnv = (name: string) => Object.keys(FLAGS).find((f) => `LP_${f.toUpperCase()}` === name);

/** The container's configuration as the signer would load it in the pod: env from the Secret, its files mounted. */
function loadContainer() {
  const root = fakeRoot();
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env ?? []) {
    expect(flagOfEnv(e.name), `${e.name} is not LP_<a flag>`).toBeDefined();
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      expect(ref.name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData), `Secret key ${ref.key}`).toContain(ref.key);
      env[e.name] = secret.stringData[ref.key];
    } else {
      env[e.name] = e.value;
    }
  }
  for (const mount of container.volumeMounts) {
    const source = pod.volumes.find((v) => v.name === mount.name)?.secret;
    for (const item of source?.items ?? []) root.place(posix.join(mount.mountPath, item.path), secret.stringData[item.key]!);
  }
  return loadAt(root, container.args ?? [], env);
}

function probeAnswers(path: string): number | undefined {
  let status: number | undefined;
  const res = { writeHead: (s: number) => (status = s), end: () => {} } as unknown as ServerResponse;
  return serveProbe(createReadiness(undefined), path, res) ? status : undefined;
}

describe("Kubernetes manifests (deploy/kubernetes)", () => {
  test("every file parses into named objects", () => {
    expect(manifestFiles.sort()).toEqual(["deployment.yaml", "kustomization.yaml", "networkpolicy.yaml", "pdb.yaml", "secret.example.yaml", "service.yaml"]);
    for (const { file, m } of all) {
      expect(m.apiVersion, file).toMatch(/^[a-z0-9./-]+$/);
      expect(m.kind, file).toMatch(/^[A-Z][A-Za-z]+$/);
      if (m.kind !== "Kustomization") expect(m.metadata.name, file).toBe("lpsigner");
    }
  });

  test("the container's args and LP_ environment parse with the signer's flag table and configuration", () => {
    expect(container.command, "the image's entrypoint runs lpsigner").toBeUndefined();
    const { flags, config } = loadContainer();
    expect(config.chain.kind).toBe("rpc");
    expect(config.key.kind).toBe("keystore");
    // One process per pod (the manifest's comment says why); its CPU request is that one core.
    expect(config.workers).toBe(1);
    expect(container.resources.requests.cpu).toBe("1");
    expect(flags.ethUrl, "LP_ETHURL from the Secret").toBe(secret.stringData["eth-url"]);
  });

  test("the container port is -httpAddr's port, the probes' paths are the signer's and use that port", () => {
    const { config } = loadContainer();
    expect(container.ports).toHaveLength(1);
    const port = container.ports[0]!;
    expect(port.containerPort).toBe(config.listen.port);
    // Probes and the Service reach the pod IP, not loopback.
    expect(isLoopbackHost(config.listen.host)).toBe(false);
    const probes = { startup: container.startupProbe, liveness: container.livenessProbe, readiness: container.readinessProbe };
    expect(probes.liveness.httpGet.path).toBe("/healthz");
    expect(probes.readiness.httpGet.path).toBe("/readyz");
    expect(probes.startup?.httpGet.path).toBe("/healthz");
    for (const [kind, probe] of Object.entries(probes)) {
      expect([port.name, port.containerPort], kind).toContain(probe!.httpGet.port);
      expect(probeAnswers(probe!.httpGet.path), `${kind} ${probe!.httpGet.path}`).toBe(200);
    }
    expect(probeAnswers("/livez"), "a path the signer does not serve").toBeUndefined();
  });

  test("the keystore and password come from the Secret, mounted read-only where -ethKeystorePath and -ethPassword point", () => {
    const flags = parseFlags(container.args ?? [], {})!;
    const keyMount = container.volumeMounts.find((m) => pod.volumes.find((v) => v.name === m.name)?.secret)!;
    expect(keyMount.readOnly).toBe(true);
    const volume = pod.volumes.find((v) => v.name === keyMount.name)!.secret!;
    expect(volume.secretName).toBe(secret.metadata.name);
    expect(volume.defaultMode).toBe(0o440);
    const mounted = new Map(volume.items!.map((i) => [posix.join(keyMount.mountPath, i.path), i.key]));
    expect(mounted.get(flags.ethKeystorePath)).toBe("keystore.json");
    expect(mounted.get(flags.ethPassword)).toBe("password");
    for (const key of mounted.values()) expect(Object.keys(secret.stringData)).toContain(key);
  });

  test("the pod and container are locked down", () => {
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext.seccompProfile?.type).toBe("RuntimeDefault");
    for (const c of pod.containers) {
      const sc = c.securityContext;
      expect(sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot, c.name).toBe(true);
      expect(sc.readOnlyRootFilesystem, c.name).toBe(true);
      expect(sc.allowPrivilegeEscalation, c.name).toBe(false);
      expect(sc.privileged ?? false, c.name).toBe(false);
      expect(sc.capabilities?.drop, c.name).toEqual(["ALL"]);
      expect(sc.capabilities?.add ?? [], c.name).toEqual([]);
    }
  });

  test("resources fit one signing process with headroom (docs/performance.md: 129-142 MiB RSS under load)", () => {
    const mib = (q: string) => {
      const m = /^(\d+)(Mi|Gi)$/.exec(q);
      expect(m, q).not.toBeNull();
      return Number(m![1]) * (m![2] === "Gi" ? 1024 : 1);
    };
    const { requests, limits } = container.resources;
    expect(mib(requests.memory)).toBeGreaterThanOrEqual(220);
    expect(mib(limits!.memory!)).toBeGreaterThanOrEqual(2 * 220);
    // No CPU limit: throttling a busy signer shows up as tail latency (the manifest says so).
    expect(limits?.cpu).toBeUndefined();
  });

  test("the Deployment, Service, PodDisruptionBudget and NetworkPolicy select the same pods and port", () => {
    expect(subsetOf(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);

    const service = one<Manifest & { spec: { selector: Labels; ports: { port: number; targetPort: string | number }[] } }>("Service");
    expect(subsetOf(service.spec.selector, podLabels)).toBe(true);
    const portName = container.ports[0]!.name;
    expect(service.spec.ports.map((p) => p.targetPort)).toEqual([portName]);

    const pdb = one<Manifest & { spec: { selector: { matchLabels: Labels }; maxUnavailable?: number; minAvailable?: number } }>("PodDisruptionBudget");
    expect(Object.keys(pdb.spec.selector.matchLabels).length).toBeGreaterThan(0);
    expect(subsetOf(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    // A drain can always proceed, one pod at a time.
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.maxUnavailable!).toBeLessThan(deployment.spec.replicas);

    // -remoteSignerAllowNoAuth is only safe with ingress restricted: the policy covers these pods and the port.
    const policy = one<Manifest & { spec: { podSelector: { matchLabels: Labels }; policyTypes: string[]; ingress: { from: object[]; ports: { port: string | number }[] }[] } }>(
      "NetworkPolicy",
    );
    expect(parseFlags(container.args ?? [], {})!.remoteSignerAllowNoAuth).toBe("true");
    expect(subsetOf(policy.spec.podSelector.matchLabels, podLabels)).toBe(true);
    expect(policy.spec.policyTypes).toContain("Ingress");
    for (const rule of policy.spec.ingress) {
      expect(rule.from.length, "every ingress rule names its sources").toBeGreaterThan(0);
      expect(rule.ports.map((p) => p.port)).toEqual([portName]);
    }
  });

  test("kustomization.yaml lists every manifest except the example Secret", () => {
    const k = all.find(({ m }) => m.kind === "Kustomization")!.m as Manifest & { resources: string[] };
    expect(k.resources.sort()).toEqual(manifestFiles.filter((f) => f !== "kustomization.yaml" && f !== "secret.example.yaml").sort());
  });
});


/** A unit file's sections: each key's values in order (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.replace(/\\\n/g, " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf("=");
    expect(eq, line).toBeGreaterThan(0);
    expect(current, line).toBeDefined();
    const key = line.slice(0, eq).trim();
    current!.set(key, [...(current!.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

test("npm start and bin/lpsigner.js give the signer's V8 flags (src/cluster/v8-flags.ts)", () => {
  const start = (JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } }).scripts.start;
  const run = start.split("&&").at(-1)!.trim().split(/\s+/);
  expect(run[0]).toBe("node");
  expect(run.slice(1, -1)).toEqual(SIGNER_V8_FLAGS);
  expect(run.at(-1)).toBe("bin/lpsigner.js");
  const shebang = readFileSync("bin/lpsigner.js", "utf8").split("\n")[0]!;
  expect(shebang).toBe(`#!/usr/bin/env -S node ${SIGNER_V8_FLAGS.join(" ")}`);
});

describe("systemd unit (deploy/systemd)", () => {
  const unit = parseUnit(readFileSync(join(SYSTEMD, "lpsigner.service"), "utf8"));
  const service = unit.get("Service")!;
  const value = (key: string) => service.get(key)?.at(-1);

  test("ExecStart's flags and the environment file parse; the credentials are where the flags point", () => {
    const argv = value("ExecStart")!.split(/\s+/);
    expect(argv.join(" "), "no quoting: the split above is systemd's").not.toMatch(/["'\\]/);
    expect(argv[0]).toBe("/usr/bin/node");
    const script = argv.findIndex((a) => a.endsWith(".js"));
    expect(argv.slice(1, script)).toEqual(SIGNER_V8_FLAGS);
    expect(argv[script]).toBe("/opt/lpsigner/dist/src/main.js");

    // %d is the credentials directory, holding each LoadCredential=name:source as <dir>/name.
    const root = fakeRoot();
    const credentials = "/run/credentials/lpsigner.service";
    const names = (service.get("LoadCredential") ?? []).map((c) => c.split(":")[0]!);
    expect(names.sort()).toEqual(["keystore.json", "password"]);
    for (const name of names) root.place(`${credentials}/${name}`, name === "password" ? "pw" : "{}");
    const flagArgs = argv.slice(script + 1).map((a) => a.replaceAll("%d", credentials));

    // EnvironmentFile's example: only LP_<flag> names.
    expect(value("EnvironmentFile")).toBe("/etc/lpsigner/lpsigner.env");
    const env: NodeJS.ProcessEnv = {};
    for (const line of readFileSync(join(SYSTEMD, "lpsigner.env.example"), "utf8").split("\n")) {
      if (line.trim() === "" || line.startsWith("#")) continue;
      const [, name, v] = /^([A-Z_]+)=(.*)$/.exec(line) ?? [];
      expect(flagOfEnv(name ?? line), line).toBeDefined();
      env[name!] = v;
    }
    for (const e of service.get("Environment") ?? []) {
      const [name, v] = e.split("=", 2);
      expect(flagOfEnv(name!), e).toBeDefined();
      env[name!] = v;
    }

    const { flags, config } = loadAt(root, flagArgs, env);
    expect(flags.ethKeystorePath).toBe(`${credentials}/keystore.json`);
    expect(flags.ethPassword).toBe(`${credentials}/password`);
    expect(config.key).toMatchObject({ kind: "keystore", password: "pw" });
    expect(config.chain.kind).toBe("rpc");
    // Loopback, so no auth webhook is required; a proxy on the host forwards to it.
    expect(isLoopbackHost(config.listen.host)).toBe(true);
    expect(config.listen.port).toBe(8935);
  });

  test("the service is sandboxed and stops within its drain", () => {
    for (const [key, expected] of Object.entries({
      DynamicUser: "yes",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      CapabilityBoundingSet: "",
      RestrictSUIDSGID: "yes",
      Restart: "on-failure",
      RestartPreventExitStatus: "2",
    })) {
      expect(value(key), key).toBe(expected);
    }
    // V8's JIT needs writable executable memory.
    expect(value("MemoryDenyWriteExecute")).toBeUndefined();
    // SIGTERM drains for up to 10 s: systemd must wait longer before SIGKILL.
    expect(Number(/^(\d+)s$/.exec(value("TimeoutStopSec")!)?.[1])).toBeGreaterThan(10);
    expect(unit.get("Install")?.get("WantedBy")).toEqual(["multi-user.target"]);
  });
});

describe("haproxy example (deploy/haproxy)", () => {
  const cfgPath = "deploy/haproxy/haproxy.cfg";
  const cfg = readFileSync(cfgPath, "utf8");
  const haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].find((p) => existsSync(p));
  if (!haproxy) console.log("SKIP haproxy -c of deploy/haproxy/haproxy.cfg: haproxy is not installed (CI installs it)");

  test("health checks use /readyz and the proxy's idle timeouts are under the signer's 65 s keep-alive", () => {
    expect(cfg).toMatch(/^\s*option httpchk GET \/readyz$/m);
    for (const [, name, seconds] of cfg.matchAll(/^\s*timeout (client|server|http-keep-alive) (\d+)s$/gm)) {
      expect(Number(seconds), name).toBeLessThan(65);
    }
    const servers = [...cfg.matchAll(/^\s*server \S+ (\S+):(\d+) check$/gm)];
    expect(servers.length).toBeGreaterThanOrEqual(2);
    for (const [, , port] of servers) expect(port).toBe(FLAGS.httpAddr.default.split(":")[1]);
  });

  test.skipIf(!haproxy)("haproxy -c accepts it", () => {
    const check = spawnSync(haproxy!, ["-c", "-f", cfgPath], { encoding: "utf8" });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });
});
