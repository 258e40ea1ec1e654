import ts from 'typescript';

/**
 * The names a module exports, as the TypeScript compiler sees them: `name` for a value (it exists
 * at run time), `type name` for a type only. Sorted, so a list can be compared and read.
 */
export function moduleExports(file: string): string[] {
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2023,
    resolveJsonModule: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${file}: not a module`);
  return checker
    .getExportsOfModule(moduleSymbol)
    .map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      return `${target.flags & ts.SymbolFlags.Value ? '' : 'type '}${symbol.getName()}`;
    })
    .sort((a, b) => a.replace('type ', '').localeCompare(b.replace('type ', '')));
}
