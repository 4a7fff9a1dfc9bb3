package sentinel

// nameIndex finds a command (or a subcommand of one command) by name,
// ASCII case-insensitively, without hashing the name or copying it to
// lower case: the names are grouped by length, and a lookup compares the
// few names of its length byte by byte. Built once from the fixed command
// table (see numberCommands); read-only afterwards.
type nameIndex struct {
	byLen [][]nameEntry // byLen[n]: the names of n bytes
}

type nameEntry struct {
	name string // lower case
	id   int    // index into specsByID
}

// add records name (lower case) for id.
func (x *nameIndex) add(name string, id int) {
	for len(x.byLen) <= len(name) {
		x.byLen = append(x.byLen, nil)
	}
	x.byLen[len(name)] = append(x.byLen[len(name)], nameEntry{name: name, id: id})
}

// find returns the id of the name b, in any ASCII case.
func (x *nameIndex) find(b []byte) (int, bool) {
	if x == nil || len(b) >= len(x.byLen) {
		return 0, false
	}
	for _, e := range x.byLen[len(b)] {
		if equalFoldLower(b, e.name) {
			return e.id, true
		}
	}
	return 0, false
}

// equalFoldLower reports whether b equals lower (lower case, of b's length)
// when b's ASCII letters are lower-cased.
func equalFoldLower(b []byte, lower string) bool {
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != lower[i] {
			return false
		}
	}
	return true
}
