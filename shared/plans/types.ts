/**
 * The plan document: what `parsePlan` makes of a markdown development plan. Every field is plain
 * data (no class, no Map, `null` rather than absent), so a document serializes to JSON as is and
 * two parses of the same input compare equal.
 */

/** A task's state. Checkboxes give `todo`/`done`; symbols and `[~]`, `[/]`, `[!]` give the other two. */
export type TaskStatus = 'todo' | 'in_progress' | 'done' | 'blocked';

/** How a line was recognised as a task. */
export type TaskMarker =
  /** `- [ ]`, `* [x]`, `1. [X]`… (GFM task list item). */
  | 'checkbox'
  /** A status symbol instead of a checkbox: `- ✅ …`, `☐ …` at the start of a line. */
  | 'symbol'
  /**
   * A bullet naming a step with neither checkbox nor leading symbol: `- Étape 2 : …`,
   * `- Micro-étape 1.2 : … ✅` (its status from a symbol at its end, else `todo`).
   */
  | 'step';

export type TaskPriority = 'P0' | 'P1' | 'P2' | 'P3';

/** A duration written inline as `(2h)`, `(30 min)`, `(1.5j)`… */
export interface TaskEstimate {
  /** As written between the parentheses, e.g. `2h`. */
  raw: string;
  /** In minutes, counting a day as 8 hours and a week as 5 days. */
  minutes: number;
}

/** `Étape 1.2 : …` / `Micro-étape 1.2.3 : …` at the start of a task's text. */
export interface TaskStep {
  kind: 'step' | 'micro-step';
  /** The step's number as written (`1.2`), not an id: plans restart step numbers in every section. */
  number: string | null;
}

export interface PlanTask {
  /**
   * Stable id (UUIDv5): of the plan id and the explicit id when the task has one, otherwise of the
   * plan id, the heading path and the normalized text; repeats get their occurrence number (the
   * exact names are in `ids.ts`). Unchanged by a status change, so ticking a box updates a point
   * instead of adding one.
   */
  id: string;
  /** SHA-256 (hex) of what a re-index must notice: text, status, explicit id, heading path, parent. */
  contentHash: string;
  /** Position in `PlanDocument.tasks` (document order). */
  index: number;
  /** 1-based line in the input (front matter lines count). */
  line: number;
  /** Numeric id written by the author (`1.2.3` from `**1.2.3**` or `1.2.3.`), or null. */
  explicitId: string | null;
  /**
   * 1-based rank of this task among the tasks sharing its id key (its explicit id, or its heading
   * path and normalized text): 1 unless the plan repeats itself.
   */
  occurrence: number;
  /** The task's text after the checkbox, symbol and explicit id, whitespace collapsed, inline markdown kept. */
  text: string;
  status: TaskStatus;
  marker: TaskMarker;
  /** Stable id of the nearest enclosing task (by list indentation), or null. */
  parentId: string | null;
  /** `index` of that parent task, or null. */
  parentIndex: number | null;
  /** `index` of the heading the task is under, or null before the first heading. */
  headingIndex: number | null;
  /** Titles of the headings from the outermost down to the task's own. */
  headingPath: readonly string[];
  /** Number of enclosing tasks: 0 for a top-level task. */
  depth: number;
  /** Column of the list marker (or symbol), tabs expanded to multiples of 4. */
  indent: number;
  step: TaskStep | null;
  priority: TaskPriority | null;
  estimate: TaskEstimate | null;
  /** `#tags` in the text (outside code spans), without the `#`, in order of first appearance. */
  tags: readonly string[];
}

/** Progress of a heading, computed from the tasks under it (its whole subtree) next to what it declares. */
export interface HeadingProgress {
  total: number;
  done: number;
  inProgress: number;
  blocked: number;
  todo: number;
  /** round(100 × done / total), or null when there is no task. */
  computed: number | null;
  /** The first "Progression: N%" written directly under the heading (or in its title), or null. */
  declared: number | null;
  /** computed − declared in percentage points (positive: more done than claimed), or null. */
  drift: number | null;
}

export interface PlanHeading {
  /** Stable id (UUIDv5) of the plan id and the heading path (plus an occurrence number on repeats). */
  id: string;
  /** Position in `PlanDocument.headings` (document order). */
  index: number;
  /** Number of `#`. Levels above 6 are kept (some plans nest `#######` deeper), though CommonMark stops at 6. */
  level: number;
  /** The heading text without `#`s and without a leading checkbox or status symbol. */
  title: string;
  /** Leading number of the title: `1.2` from `1.2 Design…`, `3` from `Phase 3 : …` or `3. …`. */
  number: string | null;
  /** Status given on the heading itself (`## [x] 1. …`, `## ✅ …`), or null. */
  status: TaskStatus | null;
  line: number;
  /** `index` of the enclosing heading (nearest previous one of lower level), or null. */
  parentIndex: number | null;
  /** Titles from the outermost heading down to this one. */
  path: readonly string[];
  progress: HeadingProgress;
}

/** One "Progression: N%" line. */
export interface DeclaredProgress {
  /** The percentage as written (not clamped: a plan that claims 120% is reported as such). */
  value: number;
  line: number;
  /** The heading it belongs to (the current one, or the heading whose title holds it), or null. */
  headingIndex: number | null;
}

/** A bracketed, numbered table-of-contents line such as `- [2] Phase 2: …` (navigation, not a task). */
export interface PlanTocEntry {
  number: string;
  text: string;
  line: number;
}

/** A YAML front matter value, as far as the small YAML subset understood here goes. */
export type FrontMatterValue = string | number | boolean | null | FrontMatterValue[] | FrontMatterMap;
export interface FrontMatterMap {
  [key: string]: FrontMatterValue;
}

export interface PlanDocument {
  planId: string;
  /** Front matter `title`, else the first level-1 heading, else the first heading, else null. */
  title: string | null;
  /** Parsed YAML front matter, or null when the plan has none. */
  frontMatter: FrontMatterMap | null;
  /** How the bytes were decoded (strings are taken as is and reported as `utf-8`). */
  encoding: 'utf-8' | 'utf-16le' | 'utf-16be' | 'windows-1252';
  lineEnding: 'lf' | 'crlf' | 'cr' | 'mixed' | 'none';
  lineCount: number;
  /** Every "Progression: N%" found, in document order. */
  declaredProgress: DeclaredProgress[];
  /** Progress of the whole plan; `declared` is the plan-level claim (before any heading or under a leading title). */
  progress: HeadingProgress;
  headings: PlanHeading[];
  tasks: PlanTask[];
  toc: PlanTocEntry[];
  /** Lines holding text damaged by a past double encoding (`DÃ©finir`). */
  mojibake: {
    /** Repaired: every damaged sequence on the line decoded to exactly one character. */
    repairedLines: number[];
    /** Left as is: the line also holds a sequence that only half looks damaged. */
    ambiguousLines: number[];
  };
}
