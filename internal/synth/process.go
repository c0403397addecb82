package synth

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Target base rates of the synthetic funnel.
const (
	CTR = 0.05 // expected click rate
	CVR = 0.10 // expected conversion rate among clicks
)

// zipf samples ranks 0..V-1 with P(k) ∝ (k+1)^-s by binary search in its CDF.
type zipf struct {
	cdf []float64
	pmf []float64
}

func newZipf(v int, s float64) *zipf {
	z := &zipf{cdf: make([]float64, v), pmf: make([]float64, v)}
	var sum float64
	for k := range v {
		z.pmf[k] = math.Pow(float64(k+1), -s)
		sum += z.pmf[k]
	}
	var acc float64
	for k := range v {
		z.pmf[k] /= sum
		acc += z.pmf[k]
		z.cdf[k] = acc
	}
	z.cdf[v-1] = 1
	return z
}

func (z *zipf) draw(r *rand.Rand) int {
	u := r.Float64()
	k, _ := slices.BinarySearch(z.cdf, u)
	if k < len(z.cdf) && z.cdf[k] == u {
		k++ // cdf[k] == u belongs to the next rank (P(u < cdf[k]))
	}
	return min(k, len(z.cdf)-1)
}

// Sizes of the synthetic fields.
const (
	nUsers, nItems, nCats, nCities = 5000, 3000, 20, 50
	nAges, nGenders, nDevices      = 7, 3, 5
	nHours, nPositions, nChannels  = 24, 10, 4
	nNoise                         = 1000
)

type user struct {
	age, gender, city int
	activity          int
	la, eff           float64
}

type item struct {
	cat              int
	logPrice, eff    float64
	quality          float64
	qualityFormatted []byte
}

// process holds the hidden parameters of one seed.
type process struct {
	users                                          []user
	items                                          []item
	zUser, zItem, zDev, zHour, zPos, zChan, zNoise *zipf
	// printed ids per field (rank -> id)
	idUser, idItem, idCat, idCity, idAge, idGender, idDev, idHour, idChan, idNoise []int

	pos, catC, city, catV, ageV, chanV []float64
	xGC, xDH, xAC, x3, yDA             []float64 // flattened, row-major
	bc, bv                             float64
}

func normals(r *rand.Rand, n int, sd float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = sd * r.NormFloat64()
	}
	return out
}

func perm1(r *rand.Rand, n int) []int {
	p := r.Perm(n)
	for i := range p {
		p[i]++
	}
	return p
}

// pureInteraction draws a table of N(0,1) over the product of the given
// marginals, centres it along every axis under those marginals and scales it
// to standard deviation sd under their product.
func pureInteraction(r *rand.Rand, sd float64, margins ...[]float64) []float64 {
	dims := make([]int, len(margins))
	n := 1
	for i, m := range margins {
		dims[i] = len(m)
		n *= len(m)
	}
	t := normals(r, n, 1)
	// stride of axis a
	stride := func(a int) int {
		s := 1
		for _, d := range dims[a+1:] {
			s *= d
		}
		return s
	}
	for a, m := range margins {
		st := stride(a)
		for base := range n {
			if (base/st)%dims[a] != 0 {
				continue // visit each fibre along axis a once, from its first element
			}
			var mean float64
			for k := range dims[a] {
				mean += m[k] * t[base+k*st]
			}
			for k := range dims[a] {
				t[base+k*st] -= mean
			}
		}
	}
	// weighted variance under the product of marginals
	var v float64
	for i := range n {
		w := 1.0
		rem := i
		for a := len(dims) - 1; a >= 0; a-- {
			w *= margins[a][rem%dims[a]]
			rem /= dims[a]
		}
		v += w * t[i] * t[i]
	}
	s := sd / math.Sqrt(v)
	for i := range t {
		t[i] *= s
	}
	return t
}

// newProcess draws the hidden parameters of seed from PCG(seed, 0) and
// calibrates the biases on PCG(seed, 1).
func newProcess(seed uint64) *process {
	r := rand.New(rand.NewPCG(seed, 0))
	m := &process{
		zUser: newZipf(nUsers, 0.8), zItem: newZipf(nItems, 1.05),
		zDev: newZipf(nDevices, 0.9), zHour: newZipf(nHours, 0.3),
		zPos: newZipf(nPositions, 0.8), zChan: newZipf(nChannels, 0.7),
		zNoise: newZipf(nNoise, 1.0),
	}
	zAge, zGender, zCity, zCat := newZipf(nAges, 0.6), newZipf(nGenders, 0.5), newZipf(nCities, 1.0), newZipf(nCats, 0.9)
	m.idUser, m.idItem, m.idCat, m.idCity = perm1(r, nUsers), perm1(r, nItems), perm1(r, nCats), perm1(r, nCities)
	m.idAge, m.idGender, m.idDev, m.idHour = perm1(r, nAges), perm1(r, nGenders), perm1(r, nDevices), perm1(r, nHours)
	m.idChan, m.idNoise = perm1(r, nChannels), perm1(r, nNoise)
	for i := range m.idHour {
		m.idHour[i]-- // hours are 0..23
	}

	// Users and their row-weighted attribute marginals.
	m.users = make([]user, nUsers)
	ageW, genW := make([]float64, nAges), make([]float64, nGenders)
	var laSum, laSq float64
	for u := range m.users {
		act := int(math.Exp(1.5 + 0.8*r.NormFloat64()))
		m.users[u] = user{age: zAge.draw(r), gender: zGender.draw(r), city: zCity.draw(r), activity: act,
			eff: 0.05 * r.NormFloat64()}
		ageW[m.users[u].age] += m.zUser.pmf[u]
		genW[m.users[u].gender] += m.zUser.pmf[u]
		la := math.Log1p(float64(act))
		laSum += la
		laSq += la * la
	}
	laMean := laSum / nUsers
	laSD := math.Sqrt(laSq/nUsers - laMean*laMean)
	for u := range m.users {
		m.users[u].la = (math.Log1p(float64(m.users[u].activity)) - laMean) / laSD
	}
	m.items = make([]item, nItems)
	catW := make([]float64, nCats)
	for i := range m.items {
		it := &m.items[i]
		it.cat = zCat.draw(r)
		it.logPrice = 3 + 0.7*r.NormFloat64()
		it.eff = 0.15 * r.NormFloat64()
		it.quality = it.eff/0.15 + 0.25*r.NormFloat64()
		it.qualityFormatted = strconv.AppendFloat(nil, it.quality, 'f', 4, 64)
		catW[it.cat] += m.zItem.pmf[i]
	}

	m.pos = normals(r, nPositions, 0.7)
	slices.SortFunc(m.pos, func(a, b float64) int { return -cmp.Compare(a, b) })
	m.catC = normals(r, nCats, 0.4)
	m.city = normals(r, nCities, 0.1)
	m.catV = normals(r, nCats, 0.3)
	m.ageV = normals(r, nAges, 0.7)
	m.chanV = normals(r, nChannels, 0.7)
	m.xGC = pureInteraction(r, 0.6, genW, m.zChan.pmf)
	m.xDH = pureInteraction(r, 0.2, m.zDev.pmf, m.zHour.pmf)
	m.xAC = pureInteraction(r, 0.25, ageW, catW)
	m.x3 = pureInteraction(r, 0.7, ageW, genW, m.zDev.pmf)
	m.yDA = pureInteraction(r, 0.45, m.zDev.pmf, ageW)

	m.calibrate(rand.New(rand.NewPCG(seed, 1)), 100000)
	return m
}

// row is one generated row before formatting.
type row struct {
	user, item, dev, hour, pos, ch, noise int
	price, noiseNum                       float64
	zc, zv                                float64 // logits without the biases
}

// draw samples the fields of one row from r and computes its logits.
func (m *process) draw(r *rand.Rand, row *row) {
	row.user = m.zUser.draw(r)
	row.item = m.zItem.draw(r)
	row.dev = m.zDev.draw(r)
	row.hour = m.zHour.draw(r)
	row.pos = m.zPos.draw(r)
	row.ch = m.zChan.draw(r)
	row.noise = m.zNoise.draw(r)
	it := &m.items[row.item]
	row.price = math.Round(math.Exp(it.logPrice+0.15*r.NormFloat64())*100) / 100
	row.noiseNum = r.NormFloat64()
	u := &m.users[row.user]
	lp := (math.Log1p(row.price) - 3) / 0.7
	x3 := m.x3[(u.age*nGenders+u.gender)*nDevices+row.dev]
	gc := m.xGC[u.gender*nChannels+row.ch]
	row.zc = m.pos[row.pos] + m.catC[it.cat] + m.city[u.city] + u.eff + it.eff + 0.3*u.la - 0.15*lp +
		gc + m.xDH[row.dev*nHours+row.hour] + m.xAC[u.age*nCats+it.cat] + x3
	row.zv = 0.7*m.catC[it.cat] + 0.5*it.eff + gc + 0.5*x3 +
		m.catV[it.cat] + m.ageV[u.age] + m.chanV[row.ch] + m.yDA[row.dev*nAges+u.age] - 0.5*lp
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// calibrate sets bc and bv by bisection on n rows drawn from r.
func (m *process) calibrate(r *rand.Rand, n int) {
	zc, zv := make([]float64, n), make([]float64, n)
	var rw row
	for i := range n {
		m.draw(r, &rw)
		zc[i], zv[i] = rw.zc, rw.zv
	}
	bisect := func(f func(b float64) float64, target float64) float64 {
		lo, hi := -30.0, 30.0
		for range 50 {
			mid := (lo + hi) / 2
			if f(mid) < target {
				lo = mid
			} else {
				hi = mid
			}
		}
		return (lo + hi) / 2
	}
	m.bc = bisect(func(b float64) float64 {
		var s float64
		for _, z := range zc {
			s += sigmoid(z + b)
		}
		return s / float64(n)
	}, CTR)
	pc := make([]float64, n)
	var spc float64
	for i, z := range zc {
		pc[i] = sigmoid(z + m.bc)
		spc += pc[i]
	}
	m.bv = bisect(func(b float64) float64 {
		var s float64
		for i, z := range zv {
			s += pc[i] * sigmoid(z+b)
		}
		return s / spc
	}, CVR)
}
