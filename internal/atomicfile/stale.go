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

// removeStale removes in dir the leftovers of crashed writers of dir/base:
// temporary files of dead processes and old files with the names the
// earlier writers used. It is best effort and never fails.
func removeStale(dir, base string) {
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
		p, legacy := parseTemp(name, base)
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
