package modelfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
)

// appendHeader appends the canonical JSON header for meta (all
// __metadata__ entries, reserved ones included) and ents (in storage order),
// padded with spaces to a multiple of 8 bytes.
func appendHeader(dst []byte, meta map[string]string, ents []entry) []byte {
	start := len(dst)
	dst = append(dst, `{"__metadata__":{`...)
	for i, k := range sortedKeys(meta) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, meta[k])
	}
	dst = append(dst, '}')
	for _, e := range ents {
		dst = append(dst, ',')
		dst = appendString(dst, e.name)
		dst = append(dst, `:{"dtype":`...)
		dst = appendString(dst, string(e.dtype))
		dst = append(dst, `,"shape":[`...)
		for j, d := range e.shape {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(d), 10)
		}
		dst = append(dst, `],"data_offsets":[`...)
		dst = strconv.AppendInt(dst, int64(e.begin), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(e.end), 10)
		dst = append(dst, "]}"...)
	}
	dst = append(dst, '}')
	for (len(dst)-start)%8 != 0 {
		dst = append(dst, ' ')
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s (valid UTF-8) as a JSON string, escaping only what
// JSON requires: quote, backslash and control characters.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, needing no escape
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue // bytes of multi-byte UTF-8 sequences are all >= 0x80
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checksum returns the hex SHA-256 of the canonical serialization described
// in the package doc: the metadata except "checksum", the tensor table, then
// the data section (given as consecutive chunks).
func checksum(meta map[string]string, ents []entry, data [][]byte) string {
	h := sha256.New()
	var buf []byte
	u64 := func(v int) { buf = binary.LittleEndian.AppendUint64(buf, uint64(v)) }
	str := func(s string) { u64(len(s)); buf = append(buf, s...) }
	keys := sortedKeys(meta)
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == keyChecksum })
	u64(len(keys))
	for _, k := range keys {
		str(k)
		str(meta[k])
	}
	u64(len(ents))
	for _, e := range ents {
		str(e.name)
		str(string(e.dtype))
		u64(len(e.shape))
		for _, d := range e.shape {
			u64(d)
		}
		u64(e.begin)
		u64(e.end)
	}
	h.Write(buf)
	for _, c := range data {
		h.Write(c)
	}
	return hex.EncodeToString(h.Sum(nil))
}
