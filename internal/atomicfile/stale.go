package atomicfile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// legacyAge is how long a temporary file of the writers before this package
// must have been left alone before it is removed.
const legacyAge = time.Minute

// RemoveStale removes in dir the leftovers of crashed writers, by the
// rules Create applies to one path (see the package documentation), of
// every destination name for which match returns true. It is for
// directories whose writers do not write the same names again, such as
// numbered checkpoints. It is best effort and never fails.
func RemoveStale(dir string, match func(base string) bool) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	ents, _ := d.ReadDir(-1)
	d.Close()
	now := time.Now()
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		p, legacy := 0, false
		for _, base := range tempBases(name) {
			if match(base) {
				if p, legacy = parseTemp(name, base); p > 0 || legacy {
					break
				}
			}
		}
		switch {
		case p > 0 && p == pid:
			ownMu.Lock()
			if !own[name] {
				os.Remove(filepath.Join(dir, name))
			}
			ownMu.Unlock()
		case p > 0:
			if processGone(p, e, now) {
				os.Remove(filepath.Join(dir, name))
			}
		case legacy:
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > legacyAge {
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
}

// tempBases returns the destination names name may be a temporary file of:
// BASE of .BASE.tmp-* (up to the last ".tmp-") and of .tmp-BASE-* (up to
// the last "-"). parseTemp decides.
func tempBases(name string) []string {
	var bases []string
	if i := strings.LastIndex(name, ".tmp-"); i > 1 && name[0] == '.' {
		bases = append(bases, name[1:i])
	}
	if rest, ok := strings.CutPrefix(name, ".tmp-"); ok {
		if i := strings.LastIndex(rest, "-"); i > 0 {
			bases = append(bases, rest[:i])
		}
	}
	return bases
}

// parseTemp tells whether name is a temporary file for base: it returns the
// writer's PID for .BASE.tmp-PID-RANDOM, and legacy for .BASE.tmp-RANDOM and
// .tmp-BASE-RANDOM (RANDOM: the digits of os.CreateTemp).
func parseTemp(name, base string) (pid int, legacy bool) {
	if rest, ok := strings.CutPrefix(name, "."+base+".tmp-"); ok {
		if p, random, ok := strings.Cut(rest, "-"); ok {
			if n, err := strconv.ParseInt(p, 10, 32); err == nil && digits(p) && random != "" && alnum(random) && n > 0 {
				return int(n), false
			}
			return 0, false
		}
		return 0, digits(rest)
	}
	if rest, ok := strings.CutPrefix(name, ".tmp-"+base+"-"); ok {
		return 0, digits(rest)
	}
	return 0, false
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func alnum(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
