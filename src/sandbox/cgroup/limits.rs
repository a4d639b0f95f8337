//! [`CgroupLimits`]: what one plugin's cgroup is limited to, and the CFS quota a CPU limit
//! in cores becomes.

use super::error::CgroupError;

/// Limits of one plugin's cgroup; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupLimits {
    /// Memory in bytes; swap is not allowed on top of it.
    pub memory: Option<u64>,
    /// CPU in cores (0.25 is a quarter of one CPU), as a CFS quota.
    pub cpu: Option<f64>,
    /// Tasks (processes and threads) at once.
    pub pids: Option<u64>,
}

/// CFS period for CPU limits, in microseconds (the kernel's default, 100 ms).
pub(crate) const CPU_PERIOD_US: u64 = 100_000;
/// The smallest CFS quota the kernel accepts, in microseconds.
pub(crate) const CPU_MIN_QUOTA_US: u64 = 1_000;

/// CFS quota per [`CPU_PERIOD_US`] for `cores`.
pub(crate) fn cpu_quota_us(cores: f64) -> Result<u64, CgroupError> {
    if !cores.is_finite() || cores <= 0.0 || cores > 1e6 {
        return Err(CgroupError::InvalidLimit {
            what: "cpu",
            value: cores.to_string(),
        });
    }
    let quota = (cores * CPU_PERIOD_US as f64).round() as u64;
    Ok(quota.max(CPU_MIN_QUOTA_US))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_cores_become_a_quota() {
        assert_eq!(cpu_quota_us(0.25).unwrap(), 25_000);
        assert_eq!(cpu_quota_us(2.0).unwrap(), 200_000);
        assert_eq!(cpu_quota_us(0.001).unwrap(), CPU_MIN_QUOTA_US);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                cpu_quota_us(bad),
                Err(CgroupError::InvalidLimit { what: "cpu", .. })
            ));
        }
    }
}
