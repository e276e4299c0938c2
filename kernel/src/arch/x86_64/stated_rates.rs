//! Clock rates the CPU (or the hypervisor) states in CPUID, preferred to measuring them:
//! a stated rate is exact, and no host load can skew it.
//!
//! - Leaf 0x40000010 (VMware's timing leaf, also offered by KVM/QEMU with
//!   `vmware-cpuid-freq` and an invariant TSC of known rate): the TSC's rate and the local
//!   APIC timer's input clock, both in kHz.
//! - Leaf 0x15 (Intel): the TSC's ratio to the core crystal clock, and the crystal's rate,
//!   which is also the APIC timer's input clock; where the crystal's rate is left out,
//!   leaf 0x16's base frequency (the TSC's nominal rate) gives it, as Linux does.
//!
//! QEMU 7.2 under TCG (`-cpu max`) states neither: its vendor is AMD with basic leaves up
//! to 0xd only, and its hypervisor leaves ("TCGTCGTCGTCG") end at 0x40000001. (Past the
//! last leaf, CPUID answers with another leaf's values, so each leaf is read only when the
//! CPU lists it, as `raw_cpuid` does.) The rates are then measured (`calibration`).

use raw_cpuid::CpuId;

/// Rates found in CPUID, and the leaf that gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StatedRates {
    /// The TSC's rate in Hz.
    pub(super) tsc_hz: Option<u64>,
    /// The local APIC timer's input clock in Hz (before its divider).
    pub(super) apic_input_hz: Option<u64>,
    /// The leaf both came from.
    pub(super) leaf: u32,
}

/// The leaves that state clock rates, as read (zero: not stated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Leaves {
    /// Leaf 0x40000010: EAX (TSC kHz) and EBX (APIC timer input kHz), if present.
    hypervisor_khz: Option<(u32, u32)>,
    /// Leaf 0x15: EAX (denominator), EBX (numerator), ECX (crystal Hz), on Intel only.
    tsc_crystal_ratio: Option<(u32, u32, u32)>,
    /// Leaf 0x16 EAX: the base frequency in MHz, on Intel only.
    base_mhz: Option<u16>,
}

/// What this CPU's CPUID states, if anything.
pub(super) fn read() -> Option<StatedRates> {
    let cpuid = CpuId::new();
    let intel = cpuid
        .get_vendor_info()
        .is_some_and(|vendor| vendor.as_str() == "GenuineIntel");
    let hypervisor = cpuid.get_hypervisor_info();
    let leaves = Leaves {
        hypervisor_khz: hypervisor
            .as_ref()
            .and_then(|info| info.tsc_frequency().zip(info.apic_frequency())),
        tsc_crystal_ratio: cpuid.get_tsc_info().filter(|_| intel).map(|info| {
            (
                info.denominator(),
                info.numerator(),
                info.nominal_frequency(),
            )
        }),
        base_mhz: cpuid
            .get_processor_frequency_info()
            .filter(|_| intel)
            .map(|info| info.processor_base_frequency()),
    };
    decode(leaves)
}

/// The rates `leaves` state: the hypervisor's leaf first (it describes the TSC the guest
/// sees, which TSC scaling may make differ from the hardware's), then leaf 0x15.
fn decode(leaves: Leaves) -> Option<StatedRates> {
    let stated = |hz: u64| (hz != 0).then_some(hz);
    if let Some((tsc_khz, apic_khz)) = leaves.hypervisor_khz
        && tsc_khz != 0
    {
        return Some(StatedRates {
            tsc_hz: Some(u64::from(tsc_khz) * 1000),
            apic_input_hz: stated(u64::from(apic_khz) * 1000),
            leaf: 0x4000_0010,
        });
    }
    let (denominator, numerator, crystal_hz) = leaves.tsc_crystal_ratio?;
    if denominator == 0 || numerator == 0 {
        return None;
    }
    // In 128 bits: a hypervisor may state any 32-bit values, and their products
    // overflow 64 bits; a result beyond 64 bits is no rate (the caller's sanity bounds
    // reject what is merely implausible).
    let crystal_hz = match (crystal_hz, leaves.base_mhz) {
        (0, Some(base_mhz)) if base_mhz != 0 => {
            u128::from(base_mhz) * 1_000_000 * u128::from(denominator) / u128::from(numerator)
        }
        (crystal_hz, _) => u128::from(crystal_hz),
    };
    let tsc_hz = crystal_hz * u128::from(numerator) / u128::from(denominator);
    let (crystal_hz, tsc_hz) = (u64::try_from(crystal_hz).ok()?, u64::try_from(tsc_hz).ok()?);
    Some(StatedRates {
        tsc_hz: stated(tsc_hz),
        apic_input_hz: stated(crystal_hz),
        leaf: 0x15,
    })
    .filter(|rates| rates.tsc_hz.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_stated_under_tcg() {
        assert_eq!(decode(Leaves::default()), None);
    }

    #[test]
    fn the_hypervisor_leaf_comes_first() {
        let leaves = Leaves {
            hypervisor_khz: Some((2_596_134, 1_000_000)),
            tsc_crystal_ratio: Some((2, 216, 24_000_000)),
            base_mhz: None,
        };
        let rates = decode(leaves).unwrap();
        assert_eq!(rates.tsc_hz, Some(2_596_134_000));
        assert_eq!(rates.apic_input_hz, Some(1_000_000_000));
        assert_eq!(rates.leaf, 0x4000_0010);
    }

    #[test]
    fn a_hypervisor_leaf_without_a_tsc_rate_states_nothing() {
        let leaves = Leaves {
            hypervisor_khz: Some((0, 0)),
            ..Leaves::default()
        };
        assert_eq!(decode(leaves), None);
    }

    #[test]
    fn leaf_0x15_gives_the_crystal_and_the_tsc() {
        // A 24 MHz crystal and a ratio of 216/2: 2.592 GHz.
        let leaves = Leaves {
            tsc_crystal_ratio: Some((2, 216, 24_000_000)),
            ..Leaves::default()
        };
        let rates = decode(leaves).unwrap();
        assert_eq!(rates.tsc_hz, Some(2_592_000_000));
        assert_eq!(rates.apic_input_hz, Some(24_000_000));
        assert_eq!(rates.leaf, 0x15);
    }

    #[test]
    fn without_the_crystal_rate_leaf_0x16_gives_it() {
        // Skylake clients: ratio 300/2, no crystal rate, base 3,000 MHz: a 20 MHz crystal.
        let leaves = Leaves {
            tsc_crystal_ratio: Some((2, 300, 0)),
            base_mhz: Some(3000),
            ..Leaves::default()
        };
        let rates = decode(leaves).unwrap();
        assert_eq!(rates.tsc_hz, Some(3_000_000_000));
        assert_eq!(rates.apic_input_hz, Some(20_000_000));
    }

    #[test]
    fn absurd_ratios_do_not_overflow() {
        // A hostile hypervisor's largest values: the products need 128 bits. A crystal
        // rate beyond 64 bits is no rate at all.
        let leaves = Leaves {
            tsc_crystal_ratio: Some((u32::MAX, 1, 0)),
            base_mhz: Some(u16::MAX),
            ..Leaves::default()
        };
        assert_eq!(decode(leaves), None);
        // Within 64 bits but implausible: stated as it is, for the caller's sanity bounds.
        let leaves = Leaves {
            tsc_crystal_ratio: Some((u32::MAX, u32::MAX, 0)),
            base_mhz: Some(u16::MAX),
            ..Leaves::default()
        };
        assert_eq!(decode(leaves).unwrap().tsc_hz, Some(65_535_000_000));
    }

    #[test]
    fn an_incomplete_leaf_0x15_states_nothing() {
        for ratio in [(0, 216, 24_000_000), (2, 0, 24_000_000), (2, 216, 0)] {
            let leaves = Leaves {
                tsc_crystal_ratio: Some(ratio),
                ..Leaves::default()
            };
            assert_eq!(decode(leaves), None, "{ratio:?}");
        }
    }
}
