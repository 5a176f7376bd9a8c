package policy

import (
	"strings"
	"testing"
)

func TestNameProblemRefusesInvisibleCharacters(t *testing.T) {
	for _, name := range []string{
		"Engineering\u200b", "\u200bEngineering", "Engi\u2060neering", "\ufeffEngineering",
		"Eng\u200dineering", "Eng\u202eineering", "Engineering\u00ad", "Eng\u180eineering",
		"Engineering\ufe0f", "Engineering\u3164", "Engineering\ue000", "Eng\x00ineering",
		"Eng\tineering", "Engineering\n", "Eng\x7fineering", "Eng\u0085ineering", "Eng\ufffd",
		"", "   ", "\u3000", "\xff\xfe", "Engineering\U000e0001",
	} {
		if NameProblem(name) == "" {
			t.Errorf("NameProblem(%+q) accepts it", name)
		}
	}
	for _, name := range []string{"Engineering", "Café", "Ärzte & Pflege", "研究開発", "Ｅｎｇ", "a b", "Δ-team", "straße"} {
		if p := NameProblem(name); p != "" {
			t.Errorf("NameProblem(%+q) = %q, want accepted", name, p)
		}
	}
	// NFKC can multiply a name's length by eighteen: the key must still fit a DynamoDB key.
	if p := NameProblem(strings.Repeat("\ufdfa", 80)); !strings.Contains(p, "normalised") {
		t.Errorf("a name whose NFKC form is %d bytes: %q", len(NameKey(strings.Repeat("\ufdfa", 80))), p)
	}
}

func TestNameKeyIdentifiesLookAlikes(t *testing.T) {
	same := [][]string{
		{"Engineering", "engineering", " ENGINEERING ", "Ｅｎｇｉｎｅｅｒｉｎｇ"},
		{"Straße", "STRASSE", "strasse"},
		{"Café", "Cafe\u0301", "CAFÉ"},
		{"a b", "a  b", "a\u00a0b", "a\u3000b", " a b "},
		{"ﬁle", "file"},
		{"Ⅻ", "xii"},
	}
	for _, group := range same {
		for _, n := range group[1:] {
			if NameKey(n) != NameKey(group[0]) {
				t.Errorf("NameKey(%+q) = %+q, NameKey(%+q) = %+q: want equal", n, NameKey(n), group[0], NameKey(group[0]))
			}
		}
	}
	if NameKey("Engineering") == NameKey("Engineers") {
		t.Error("different names share a key")
	}
}
