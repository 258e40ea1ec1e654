import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Every member of every interface and object type in the contract files carries JSDoc: what it
 * must do, in which unit, what it throws, who calls it. A plugin author reads the contract in an
 * editor tooltip; a member without a sentence is a member whose meaning drifts.
 */
const folder = fileURLToPath(new URL('.', import.meta.url));
const contractFiles = readdirSync(folder).filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'));

/** `file:line Interface.member` for each member of an exported interface or type literal without JSDoc. */
function undocumentedMembers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2023, true);
  const missing: string[] = [];
  const hasDoc = (node: ts.Node) => ts.getJSDocCommentsAndTags(node).some((doc) => ts.isJSDoc(doc) && (doc.comment !== undefined || (doc.tags?.length ?? 0) > 0));
  const where = (node: ts.Node) => `${fileName}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const checkMembers = (owner: string, members: ts.NodeArray<ts.TypeElement>) => {
    for (const member of members) {
      if (!(ts.isPropertySignature(member) || ts.isMethodSignature(member))) continue;
      if (!hasDoc(member)) missing.push(`${where(member)} ${owner}.${member.name.getText(source)}`);
    }
  };
  for (const statement of source.statements) {
    const exported = ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) continue;
    if (ts.isInterfaceDeclaration(statement)) {
      if (!hasDoc(statement)) missing.push(`${where(statement)} ${statement.name.text} (the interface itself)`);
      checkMembers(statement.name.text, statement.members);
    } else if (ts.isTypeAliasDeclaration(statement)) {
      // The alias's own JSDoc describes a union (one line per variant reads better than a
      // comment on each field of `{ type: 'text'; text: string }`); an object type's members
      // are checked like an interface's.
      // Aliases of another type (`z.infer<typeof Schema>`, a union of names) are described there.
      const type = statement.type;
      const objectShaped = ts.isTypeLiteralNode(type) || (ts.isUnionTypeNode(type) && type.types.some(ts.isTypeLiteralNode));
      if (objectShaped && !hasDoc(statement)) missing.push(`${where(statement)} ${statement.name.text} (the type itself)`);
      if (ts.isTypeLiteralNode(type)) checkMembers(statement.name.text, type.members);
    }
  }
  return missing;
}

describe('contract JSDoc', () => {
  it('finds the contract files', () => {
    expect(contractFiles).toEqual(expect.arrayContaining(['source.ts', 'llm-provider.ts', 'notifier.ts', 'executor.ts', 'audit-store.ts', 'plugin.ts']));
  });

  it('documents every member of every contract interface', () => {
    const missing = contractFiles.flatMap((file) => undocumentedMembers(file, readFileSync(`${folder}/${file}`, 'utf8')));
    expect(missing).toEqual([]);
  });

  it('notices a member without JSDoc, and accepts one with it', () => {
    const text = [
      '/** A thing. */',
      'export interface Thing {',
      '  /** Documented. */',
      '  a: string;',
      '  // a line comment is not JSDoc',
      '  b(): void;',
      '}',
      'interface Private { c: number }',
    ].join('\n');
    expect(undocumentedMembers('thing.ts', text)).toEqual(['thing.ts:6 Thing.b']);
    expect(undocumentedMembers('bare.ts', 'export interface Bare {\n  /** ok */\n  x: 1;\n}')).toEqual(['bare.ts:1 Bare (the interface itself)']);
  });
});
