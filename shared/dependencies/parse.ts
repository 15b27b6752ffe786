import { parseGoMod } from './go.ts';
import { baseName, type ManifestKind, type ParsedFile } from './model.ts';
import { parsePackageJson, parsePackageLock } from './npm.ts';
import { parsePyprojectToml, parseRequirementsTxt } from './python.ts';

const PARSERS: Record<ManifestKind, (file: string, text: string) => ParsedFile> = {
  'package.json': parsePackageJson,
  'package-lock.json': parsePackageLock,
  'go.mod': parseGoMod,
  'requirements.txt': parseRequirementsTxt,
  'pyproject.toml': parsePyprojectToml,
};

/** Parses a manifest by its file name (IndexRequestSchema admits only the names PARSERS knows). */
export function parseManifest(file: string, text: string): ParsedFile {
  return PARSERS[baseName(file) as ManifestKind](file, text);
}
