// The conflict picker's editors (CodeMirror 6): the read-only side-by-side diff of the two
// versions, and the editable merged result whose hunks each carry "Mine / Theirs / Both"
// buttons, like a merge tool's inline choices.
//
// The result editor keeps each hunk's range in the merged text up to date through every edit
// (positions are mapped through the changes), so a per-hunk choice replaces exactly that hunk
// even after the user typed elsewhere. Typing inside a hunk marks it "edited".

import { MergeView } from "@codemirror/merge";
import {
  EditorState,
  StateEffect,
  StateField,
  type Extension,
  type Range,
} from "@codemirror/state";
import {
  Decoration,
  EditorView,
  WidgetType,
  drawSelection,
  highlightActiveLine,
  keymap,
  lineNumbers,
  type DecorationSet,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";

import { choiceText, textOf, type Choice, type Hunk } from "./merge";

/** Editor look shared by all panes; colours come from the page's CSS variables (both themes). */
const look: Extension = [
  EditorView.theme({
    "&": { fontSize: "13px", backgroundColor: "var(--editor-bg)", color: "var(--text)" },
    ".cm-content": { fontFamily: "var(--font-mono)", caretColor: "var(--text)" },
    ".cm-gutters": {
      backgroundColor: "var(--editor-gutter)",
      color: "var(--muted)",
      borderRight: "1px solid var(--border)",
    },
    "&.cm-focused": { outline: "none" },
    ".cm-activeLine": { backgroundColor: "var(--editor-active)" },
    ".cm-activeLineGutter": { backgroundColor: "var(--editor-active)" },
    ".cm-selectionBackground, &.cm-focused .cm-selectionBackground": {
      backgroundColor: "var(--editor-selection) !important",
    },
    ".cm-cursor": { borderLeftColor: "var(--text)" },
  }),
  EditorState.lineSeparator.of("\n"),
  lineNumbers(),
];

/** Creates the read-only side-by-side view: local (this device) left, remote right. */
export function createDiffView(parent: HTMLElement, local: string, remote: string): MergeView {
  const side = (doc: string): { doc: string; extensions: Extension } => ({
    doc,
    extensions: [look, EditorState.readOnly.of(true), EditorView.editable.of(false)],
  });
  return new MergeView({
    a: side(local),
    b: side(remote),
    parent,
    gutter: true,
    highlightChanges: true,
    collapseUnchanged: { margin: 3, minSize: 8 },
  });
}

/** A hunk's place in the merged text and what it holds now. */
export interface Region {
  from: number;
  to: number;
  choice: Choice | "edited";
}

const setRegion = StateEffect.define<{ index: number; region: Region }>();

/** Labels for the hunk buttons. */
export interface ChoiceLabels {
  local: string;
  remote: string;
}

class HunkBar extends WidgetType {
  constructor(
    readonly index: number,
    readonly count: number,
    readonly choice: Region["choice"],
    readonly labels: ChoiceLabels,
    readonly choose: (index: number, c: Choice) => void,
  ) {
    super();
  }

  eq(other: HunkBar): boolean {
    return other.index === this.index && other.choice === this.choice && other.count === this.count;
  }

  toDOM(): HTMLElement {
    const bar = document.createElement("div");
    bar.className = "cm-hunk-bar";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", `Change ${this.index + 1} of ${this.count}`);
    const title = document.createElement("span");
    title.className = "cm-hunk-title";
    title.textContent =
      `Change ${this.index + 1} of ${this.count}` + (this.choice === "edited" ? " · edited" : "");
    bar.append(title);
    const options: [Choice, string][] = [
      ["local", `Mine (${this.labels.local})`],
      ["remote", `Theirs (${this.labels.remote})`],
      ["both", "Both"],
    ];
    for (const [choice, text] of options) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = `cm-hunk-btn cm-hunk-${choice}`;
      b.textContent = text;
      b.dataset.hunk = String(this.index);
      b.dataset.choice = choice;
      b.setAttribute("aria-pressed", String(this.choice === choice));
      b.addEventListener("mousedown", (e) => e.preventDefault());
      b.addEventListener("click", () => this.choose(this.index, choice));
      bar.append(b);
    }
    return bar;
  }

  ignoreEvent(): boolean {
    return true;
  }
}

export interface ResultEditor {
  view: EditorView;
  /** Returns the merged text. */
  text(): string;
  /** Sets one hunk to a version. */
  choose(index: number, choice: Choice): void;
  /** Sets every hunk to a version. */
  chooseAll(choice: Choice): void;
  /** Returns each hunk's current choice. */
  choices(): Region["choice"][];
  destroy(): void;
}

/**
 * Creates the editable merged result, starting from the local text (every hunk "Mine").
 * `onChange` is called with the merged text after every change.
 */
export function createResultEditor(
  parent: HTMLElement,
  opts: {
    local: string;
    hunks: Hunk[];
    labels: ChoiceLabels;
    onChange: (text: string) => void;
  },
): ResultEditor {
  const { hunks } = opts;
  let view: EditorView;

  const choose = (index: number, choice: Choice) => {
    const region = view.state.field(regions)[index];
    if (!region) return;
    const insert = choiceText(hunks[index], choice);
    view.dispatch({
      changes: { from: region.from, to: region.to, insert },
      effects: setRegion.of({
        index,
        region: { from: region.from, to: region.from + insert.length, choice },
      }),
      userEvent: "input.choose",
    });
  };

  const regions = StateField.define<Region[]>({
    create: () =>
      hunks.map((h) => ({ from: h.fromLocal, to: h.toLocal, choice: "local" as const })),
    update(value, tr) {
      let next = value;
      if (tr.docChanged) {
        const chosen = tr.isUserEvent("input.choose");
        next = value.map((r) => {
          const touched = !chosen && tr.changes.touchesRange(r.from, r.to);
          const from = tr.changes.mapPos(r.from, -1);
          const to = Math.max(from, tr.changes.mapPos(r.to, 1));
          return { from, to, choice: touched ? "edited" : r.choice };
        });
      }
      for (const e of tr.effects) {
        if (e.is(setRegion)) {
          next = next.slice();
          next[e.value.index] = e.value.region;
        }
      }
      return next;
    },
  });

  // The hunk bars and line tints, rebuilt when the text or a hunk changes.
  const decorations = StateField.define<DecorationSet>({
    create: (state) => build(state),
    update: (deco, tr) =>
      tr.docChanged || tr.effects.some((e) => e.is(setRegion)) ? build(tr.state) : deco,
    provide: (f) => EditorView.decorations.from(f),
  });

  function build(state: EditorState): DecorationSet {
    const rs = state.field(regions);
    const ranges: Range<Decoration>[] = [];
    rs.forEach((r, i) => {
      ranges.push(
        Decoration.widget({
          widget: new HunkBar(i, rs.length, r.choice, opts.labels, choose),
          block: true,
          side: -1,
        }).range(r.from),
      );
      if (r.to > r.from) {
        const cls = Decoration.line({ class: `cm-hunk-line cm-hunk-is-${r.choice}` });
        let line = state.doc.lineAt(r.from);
        for (;;) {
          ranges.push(cls.range(line.from));
          if (line.to + 1 >= r.to || line.number >= state.doc.lines) break;
          line = state.doc.line(line.number + 1);
        }
      }
    });
    return Decoration.set(ranges, true);
  }

  view = new EditorView({
    parent,
    state: EditorState.create({
      doc: textOf(opts.local),
      extensions: [
        look,
        history(),
        drawSelection(),
        highlightActiveLine(),
        keymap.of([...defaultKeymap, ...historyKeymap]),
        EditorView.lineWrapping,
        regions,
        decorations,
        EditorView.updateListener.of((u) => {
          if (u.docChanged) opts.onChange(u.state.doc.toString());
        }),
        EditorView.contentAttributes.of({ "aria-label": "Merged result (editable)" }),
      ],
    }),
  });

  return {
    view,
    text: () => view.state.doc.toString(),
    choose,
    chooseAll(choice) {
      // From the last hunk to the first, so earlier positions stay valid within one pass.
      for (let i = hunks.length - 1; i >= 0; i--) choose(i, choice);
    },
    choices: () => view.state.field(regions).map((r) => r.choice),
    destroy: () => view.destroy(),
  };
}
