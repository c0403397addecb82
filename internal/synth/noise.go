package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// Sizes of the noise id fields (package doc, "Noise ids").
const (
	requestRanks   = 1 << 30 // request_id: Zipf(requestS) over 2^30 ranks
	requestS       = 0.8
	sessionUsers   = 50000 // session_user: Zipf(sessionS) over 50,000 values
	sessionS       = 1.0
	noiseIDsStream = 1 << 63 // chunk k draws its noise ids from PCG(seed, noiseIDsStream+k)
)

// NoiseIDColumns are the columns Config.NoiseIDs appends to data.csv.
var NoiseIDColumns = []string{"request_id", "session_user"}

// noiseIDs holds the hidden parameters of the noise id fields of one seed,
// drawn from PCG(seed, 2) so that the other fields' parameters and rows do
// not depend on whether the noise ids are written.
type noiseIDs struct {
	requestKey uint64 // xor-ed into the request rank before mixing
	requestA   float64
	session    *zipf
	idSession  []int // rank -> printed session_user id
}

func newNoiseIDs(seed uint64) *noiseIDs {
	r := rand.New(rand.NewPCG(seed, 2))
	return &noiseIDs{
		requestKey: r.Uint64(),
		requestA:   math.Pow(1+requestRanks, 1-requestS) - 1,
		session:    newZipf(sessionUsers, sessionS),
		idSession:  perm1(r, sessionUsers),
	}
}

// requestRank draws a rank of Zipf(requestS) over requestRanks ranks by
// inverting the continuous approximation of its CDF,
// P(rank < x) = ((1+x)^(1−s) − 1) / ((1+V)^(1−s) − 1).
func (n *noiseIDs) requestRank(r *rand.Rand) uint64 {
	x := math.Pow(1+float64(r.Float64()*n.requestA), 1/(1-requestS)) - 1
	return min(uint64(x), requestRanks-1)
}

// mix64 is the bijective finalizer of SplitMix64: distinct ranks give
// distinct printed request ids.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// appendIDs appends ",request_id,session_user" of one row drawn from r:
// request_id as 16 hex digits, session_user as an integer 1..50,000.
func (n *noiseIDs) appendIDs(b []byte, r *rand.Rand) []byte {
	id := mix64(n.requestRank(r) ^ n.requestKey)
	b = append(b, ',')
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, "0123456789abcdef"[(id>>uint(shift))&0xf])
	}
	b = append(b, ',')
	return strconv.AppendInt(b, int64(n.idSession[n.session.draw(r)]), 10)
}
