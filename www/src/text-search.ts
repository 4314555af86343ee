// Finding packages by name or by words of their description, on the page (the index
// answers "what is similar", this answers "which package do you mean").

export interface Packages {
  names: string[];
  descriptions: string[];
}

export interface Match {
  id: number;
  score: number;
}

export class TextSearch {
  private names: string[];
  private haystacks: string[];

  constructor(packages: Packages) {
    this.names = packages.names.map((n) => n.toLowerCase());
    this.haystacks = packages.descriptions.map((d, i) => ` ${this.names[i]} ${d.toLowerCase()}`);
  }

  /** The best `limit` matches: exact name, name prefix, name substring, then every word. */
  find(query: string, limit: number): Match[] {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const words = q.split(/\s+/);
    const matches: Match[] = [];
    for (let id = 0; id < this.names.length; id++) {
      const name = this.names[id];
      let score = 0;
      if (name === q) score = 4000;
      else if (name.startsWith(q)) score = 3000 - name.length;
      else if (name.includes(q)) score = 2000 - name.length;
      else {
        const text = this.haystacks[id];
        let all = true;
        let starts = 0;
        for (const w of words) {
          const at = text.indexOf(w);
          if (at < 0) {
            all = false;
            break;
          }
          // Words that start a word of the text count more than ones inside a word.
          if (text.includes(` ${w}`)) starts++;
        }
        if (!all) continue;
        score = 1000 + 100 * starts - Math.min(text.length, 99);
      }
      matches.push({ id, score });
    }
    matches.sort((a, b) => b.score - a.score || a.id - b.id);
    return matches.slice(0, limit);
  }
}

/** Splits `text` into pieces, marking those that match a word of the query. */
export function highlight(text: string, query: string): Array<{ text: string; mark: boolean }> {
  const words = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [{ text, mark: false }];
  const lower = text.toLowerCase();
  const marked = new Uint8Array(text.length);
  for (const w of words) {
    for (let at = lower.indexOf(w); at >= 0; at = lower.indexOf(w, at + w.length)) {
      marked.fill(1, at, at + w.length);
    }
  }
  const pieces: Array<{ text: string; mark: boolean }> = [];
  let start = 0;
  for (let i = 1; i <= text.length; i++) {
    if (i === text.length || marked[i] !== marked[start]) {
      pieces.push({ text: text.slice(start, i), mark: marked[start] === 1 });
      start = i;
    }
  }
  return pieces;
}
