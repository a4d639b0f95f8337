//! The numeric helpers shared by aggregations and `*_over_time` functions: Kahan
//! summation, mean, variance, quantile.

/// The sum of `vals` with Kahan-Babuska compensation, as Prometheus sums.
pub fn kahan_sum(vals: &[f64]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for &v in vals {
        let (s, nc) = kahan_inc(v, sum, c);
        sum = s;
        c = nc;
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// One compensated addition: `(sum, compensation)` after adding `inc`.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The mean: a compensated sum divided by the count, or an incremental mean where the
/// sum would overflow.
pub fn mean(vals: &[f64]) -> f64 {
    if vals.is_empty() {
        return f64::NAN;
    }
    let sum = kahan_sum(vals);
    if sum.is_finite() || vals.iter().any(|v| !v.is_finite()) {
        return sum / vals.len() as f64;
    }
    let mut m = 0.0;
    for (i, &v) in vals.iter().enumerate() {
        m += v / (i + 1) as f64 - m / (i + 1) as f64;
    }
    m
}

/// The population variance, by Welford's running update.
pub fn variance(vals: &[f64]) -> f64 {
    let (mut n, mut m, mut acc) = (0.0, 0.0, 0.0);
    for &v in vals {
        n += 1.0;
        let delta = v - m;
        m += delta / n;
        acc += delta * (v - m);
    }
    if n == 0.0 {
        f64::NAN
    } else {
        acc / n
    }
}

/// The `q` quantile of `vals` by linear interpolation between closest ranks
/// (`-Inf` below 0, `+Inf` above 1, NaN for no values or a NaN `q`).
pub fn quantile(q: f64, mut vals: Vec<f64>) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| super::value::cmp_asc(*a, *b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    vals[lower as usize] * (1.0 - weight) + vals[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(kahan_sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(mean(&[f64::MAX, f64::MAX]), f64::MAX);
        assert_eq!(variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 4.0);
        assert_eq!(quantile(0.5, vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(quantile(-1.0, vec![1.0]), f64::NEG_INFINITY);
        assert!(quantile(0.5, vec![]).is_nan());
    }
}
