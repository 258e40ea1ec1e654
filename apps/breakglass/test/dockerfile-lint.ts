/**
 * A Dockerfile linter for the rules that matter for breakglass's image (hadolint is not packaged
 * for Debian): every base pinned to an exact version or digest, a multi-stage build whose final
 * stage copies from an earlier one, a non-root USER before the entrypoint, no ADD of a URL,
 * a HEALTHCHECK, exec-form ENTRYPOINT/CMD, and no secret in ENV or ARG.
 */

export interface DockerInstruction {
  keyword: string;
  arguments: string;
  line: number;
  /** The stage this instruction belongs to (its FROM ... AS name, or the stage index). */
  stage: string;
}

export function parseDockerfile(text: string): DockerInstruction[] {
  const instructions: DockerInstruction[] = [];
  const lines = text.split('\n');
  let stage = '';
  let stages = 0;
  for (let index = 0; index < lines.length; index++) {
    const start = index;
    let line = lines[index] as string;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.trimEnd().endsWith('\\') && index + 1 < lines.length) {
      index += 1;
      const next = lines[index] as string;
      if (/^\s*#/.test(next)) continue;
      line = `${line.trimEnd().slice(0, -1)} ${next.trim()}`;
    }
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const keyword = (match[1] as string).toUpperCase();
    const rest = (match[2] as string).trim();
    if (keyword === 'FROM') {
      stages += 1;
      stage = /\bAS\s+(\S+)$/i.exec(rest)?.[1] ?? String(stages - 1);
    }
    instructions.push({ keyword, arguments: rest, line: start + 1, stage });
  }
  return instructions;
}

const PINNED = /^[^\s:@]+(?::(?:\d+\.\d+\.\d+[\w.-]*))?(?:@sha256:[0-9a-f]{64})?$/;

export function lintDockerfile(instructions: DockerInstruction[]): string[] {
  const problems: string[] = [];
  const froms = instructions.filter((instruction) => instruction.keyword === 'FROM');
  const stageNames = new Set(froms.map((instruction) => instruction.stage));
  for (const from of froms) {
    const image = from.arguments.split(/\s+/).find((word) => !word.startsWith('--')) ?? '';
    if (stageNames.has(image)) continue;
    const hasVersion = /:\d+\.\d+\.\d+/.test(image) || /@sha256:[0-9a-f]{64}$/.test(image);
    if (!PINNED.test(image) || !hasVersion) problems.push(`line ${from.line}: base image ${image} is not pinned to an exact version or digest`);
  }
  if (froms.length < 2) problems.push('not a multi-stage build (build tools would ship in the image)');
  const finalStage = froms.at(-1)?.stage;
  const final = instructions.filter((instruction) => instruction.stage === finalStage);
  if (froms.length >= 2 && !final.some((instruction) => instruction.keyword === 'COPY' && /--from=\S+/.test(instruction.arguments)))
    problems.push('not a multi-stage build: the final stage copies nothing from an earlier one');
  const users = final.filter((instruction) => instruction.keyword === 'USER');
  const lastUser = users.at(-1);
  if (!lastUser) problems.push('no USER in the final stage: the container would run as root');
  else if (/^(root|0)(:|$)/.test(lastUser.arguments)) problems.push(`line ${lastUser.line}: the final stage runs as root`);
  for (const instruction of instructions) {
    if (instruction.keyword === 'ADD' && /(^|\s)(https?|ftp):\/\//i.test(instruction.arguments))
      problems.push(`line ${instruction.line}: ADD of a URL (unverified download; fetch and check it in a build stage)`);
    if ((instruction.keyword === 'ENV' || instruction.keyword === 'ARG') && /\b\w*(TOKEN|SECRET|PASSWORD|API_?KEY)\w*\s*=\s*\S+/i.test(instruction.arguments))
      problems.push(`line ${instruction.line}: a secret in ${instruction.keyword} (it stays in the image layers)`);
  }
  const health = final.filter((instruction) => instruction.keyword === 'HEALTHCHECK');
  if (health.length === 0 || /^NONE$/i.test(health.at(-1)?.arguments ?? '')) problems.push('no HEALTHCHECK in the final stage');
  for (const instruction of final.filter((candidate) => candidate.keyword === 'ENTRYPOINT' || candidate.keyword === 'CMD')) {
    if (!instruction.arguments.startsWith('[')) problems.push(`line ${instruction.line}: ${instruction.keyword} is not in exec form (signals would go to a shell)`);
  }
  if (lastUser) {
    const entry = final.find((instruction) => instruction.keyword === 'ENTRYPOINT');
    if (entry && entry.line < lastUser.line) problems.push(`line ${lastUser.line}: USER comes after ENTRYPOINT`);
  }
  return problems;
}
