// Package synth is the synthetic click → conversion funnel of `dcrnn gen`
// and `dcrnn demo`: a documented generative process (below), a
// parallel writer whose output does not depend on the number of threads
// (Generate, WriteDir), and the oracle, the metrics the true probabilities
// reach (Oracle, ReadOracle).
//
// Generative process, for seed S. Every random choice comes from math/rand/v2
// PCG generators: the hidden parameters from PCG(S, 0), the calibration
// sample from PCG(S, 1), and data chunk k (rows k·ChunkRows …) from
// PCG(S, 0x10000+k), so the output depends only on (S, rows), never on the
// number of threads, and a longer file starts with the shorter one. The
// noise ids (below) have their own generators, PCG(S, 2) for their hidden
// parameters and PCG(S, 2^63+k) for chunk k, so turning them on or off
// changes no other byte of data.csv and none of truth.csv.
//
// Entities. 5,000 users drawn per row from Zipf(s=0.8); each user has fixed
// hidden attributes: age_group (7 values, Zipf 0.6), gender (3, Zipf 0.5),
// city (50, Zipf 1.0) and an activity count ⌊exp(N(1.5, 0.8))⌋. 3,000
// items drawn per row from Zipf(1.05); each item has a fixed item_category
// (20 values, Zipf 0.9), a log-price level N(3, 0.7) and a click effect
// e_item ~ N(0, 0.15²). Per row, independently: device (5, Zipf 0.9), hour
// (24, Zipf 0.3), position (10, Zipf 0.8; position 1 is the most frequent and
// the best placed), channel (4, Zipf 0.7), and two pure-noise fields that
// enter no logit: noise_cat (1,000, Zipf 1.0) and noise_num ~ N(0,1).
// Zipf(s) over V values means P(rank k) ∝ k^-s; ranks map to the printed ids
// by a hidden random permutation (except position: id = rank).
//
// Numeric columns: price = exp(item log-price + N(0, 0.15²)) rounded to
// cents; user_activity = the user's count; item_quality = e_item/0.15 +
// N(0, 0.25²), fixed per item (a noisy hand-made feature that helps with rare
// items). With lp = (ln(1+price) − 3)/0.7 and la the user's standardised
// ln(1+activity):
//
//	click logit  z_c = b_c + pos[position] + cat_c[item_category] + city[city]
//	                 + user[user_id] + e_item[item_id] + 0.3·la − 0.15·lp
//	                 + X_gc[gender,channel] + X_dh[device,hour]
//	                 + X_ac[age_group,item_category] + X3[age_group,gender,device]
//	conversion-after-click logit
//	             z_v = b_v + 0.7·cat_c[item_category] + 0.5·e_item[item_id]
//	                 + X_gc[gender,channel] + 0.5·X3[age_group,gender,device]
//	                 + cat_v[item_category] + age_v[age_group] + chan_v[channel]
//	                 + Y_da[device,age_group] − 0.5·lp
//
// Main-effect tables are N(0, σ²) per value with σ: pos 0.7 (sorted so that
// position 1 is highest), cat_c 0.4, city 0.1, user 0.05, cat_v 0.3, age_v
// 0.7, chan_v 0.7. The crosses X and Y are pure interactions: a table of
// N(0,1) draws centred along every axis under the row distribution of each
// field (so it holds no main effect, and X3 no pairwise one, up to the
// dependence between age_group and gender through users), then scaled to
// standard deviation σ: X_gc 0.6, X_dh 0.2, X_ac 0.25, X3 0.7, Y_da 0.45.
//
// The biases b_c and b_v are found by bisection on a 100,000-row calibration
// sample so that the expected CTR is CTR (5%) and the expected conversion
// rate among clicks CVR (10%). Then p_click = σ(z_c), p_cvr = σ(z_v),
// p_ctcvr = p_click·p_cvr, click ~ Bernoulli(p_click), and conversion ~
// Bernoulli(p_cvr) when click = 1, else 0.
//
// Noise ids (Config.NoiseIDs; on by default in dcrnn gen and dcrnn demo,
// off with --noise-ids=false). Real logs carry high-cardinality ids that
// predict nothing; two such columns enter no logit and no label draw:
//
//   - request_id: a rank drawn per row from Zipf(0.8) over 2^30 ranks (by
//     inverting the continuous approximation of the CDF), printed as 16 hex
//     digits of a seed-keyed bijective mix of the rank. Most values are
//     unique (on 200,000 rows of seed 1: ~94% of the values are distinct,
//     the most frequent one has ~470 rows), so the distinct count grows
//     about linearly with the rows. The schema declares it hash_buckets:
//     100000.
//   - session_user: Zipf(1.0) over 50,000 values (the most frequent holds
//     1/H(50,000) ≈ 8.8% of the rows), printed as 1..50,000 through a hidden
//     permutation. The schema declares it a plain categorical field without
//     min_count, so its min_count comes from the training rows.
//
// A model can only over-fit them: they measure how well it ignores noise at
// the cost of an embedding table.
//
// data.csv columns: click, conversion, user_id, item_id, item_category, city,
// age_group, gender, device, hour, position, channel, noise_cat, price,
// user_activity, item_quality, noise_num, then request_id and session_user
// with the noise ids (Config.Columns). truth.csv (optional) has p_click,
// p_conversion_given_click, p_ctcvr for the same rows, in order.
//
// The effect sizes are chosen so that the signal is learnable from ~160k
// rows: most of the logit variance sits on low-cardinality fields and their
// crosses, the per-id effects of user_id, item_id and city are small, and a
// logistic regression given the true terms gets within 0.01 AUC of the oracle
// (see TestLearnableByWellSpecifiedModel). Oracle AUCs vary with the seed
// (click ≈ 0.79–0.83, ctcvr ≈ 0.89–0.92 for seeds 1–3).
package synth
