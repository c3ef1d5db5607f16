//! Why a thread left the CPU, from the kernel frames of its switch-out.
//!
//! The table is matched innermost frame first: the first frame that names
//! a wait decides, and scheduler frames (`__schedule`, `schedule_timeout`)
//! name none. Kept apart from the off-CPU recorder ([`super::offcpu`]) so
//! the rules can be read, and grown, on their own.

use crate::timeline::OffCpuReason;

/// The reason a thread was switched out, from the kernel frames of its
/// switch-out (innermost first) and whether it was still runnable. The first
/// frame, innermost out, that names a wait decides; scheduler frames
/// (`__schedule`, `schedule_timeout`, …) name none and are passed over.
pub fn classify_switch(frames: &[&str], preempted: bool) -> OffCpuReason {
    use OffCpuReason::*;
    if preempted {
        return Preempted;
    }
    const RULES: &[(&str, OffCpuReason)] = &[
        ("futex", Lock),
        ("rwsem_down", Lock),
        ("mutex_lock", Lock),
        ("rt_mutex", Lock),
        ("io_schedule", Disk),
        ("wait_for_completion_io", Disk),
        ("folio_wait", Disk),
        ("bit_wait_io", Disk),
        ("wait_on_page_bit", Disk),
        ("wait_on_buffer", Disk),
        ("jbd2_", Disk),
        ("submit_bio_wait", Disk),
        ("blk_mq_", Disk),
        ("nanosleep", Sleep),
        ("sk_wait_data", Net),
        ("sk_stream_wait", Net),
        ("inet_csk_accept", Net),
        ("inet_csk_wait_for_connect", Net),
        ("inet_wait_for_connect", Net),
        ("__skb_wait_for_more_packets", Net),
        ("__skb_recv", Net),
        ("tcp_recvmsg", Net),
        ("tcp_sendmsg", Net),
        ("udp_recvmsg", Net),
        ("unix_stream_read", Net),
        ("unix_wait_for_peer", Net),
        ("unix_dgram_recvmsg", Net),
        ("sock_", Net),
        ("pipe_read", Pipe),
        ("pipe_write", Pipe),
        ("pipe_wait", Pipe),
        ("wait_for_partner", Pipe),
        ("do_sys_poll", Poll),
        ("do_select", Poll),
        ("core_sys_select", Poll),
        ("ep_poll", Poll),
        ("do_epoll_wait", Poll),
        ("poll_schedule_timeout", Poll),
        ("do_wait", Child),
        ("kernel_wait", Child),
        ("wait4", Child),
        ("waitid", Child),
        ("irqentry_exit", Preempted),
        ("preempt_schedule", Preempted),
        ("do_sched_yield", Preempted),
        ("__cond_resched", Preempted),
    ];
    frames
        .iter()
        .find_map(|f| RULES.iter().find(|(p, _)| f.contains(p)).map(|&(_, r)| r))
        .unwrap_or(Other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OffCpuReason::*;

    #[test]
    fn switch_stacks_name_their_wait() {
        let futex = [
            "__schedule",
            "schedule",
            "futex_do_wait",
            "__futex_wait",
            "futex_wait",
            "do_futex",
            "__x64_sys_futex",
            "do_syscall_64",
        ];
        assert_eq!(classify_switch(&futex, false), Lock);
        let fsync = [
            "__schedule",
            "schedule",
            "io_schedule",
            "folio_wait_bit_common",
            "ext4_sync_file",
        ];
        assert_eq!(classify_switch(&fsync, false), Disk);
        let sleep = [
            "__schedule",
            "schedule",
            "do_nanosleep",
            "hrtimer_nanosleep",
            "__x64_sys_clock_nanosleep",
        ];
        assert_eq!(classify_switch(&sleep, false), Sleep);
        let recv = [
            "__schedule",
            "schedule",
            "schedule_timeout",
            "wait_woken",
            "sk_wait_data",
            "tcp_recvmsg_locked",
        ];
        assert_eq!(classify_switch(&recv, false), Net);
        let poll = ["__schedule", "schedule_hrtimeout_range", "do_sys_poll"];
        assert_eq!(classify_switch(&poll, false), Poll);
        let wait = ["__schedule", "schedule", "do_wait", "kernel_wait4"];
        assert_eq!(classify_switch(&wait, false), Child);
        let pipe = ["__schedule", "schedule", "pipe_read", "vfs_read"];
        assert_eq!(classify_switch(&pipe, false), Pipe);
        // Runnable at switch-out wins over whatever the stack says.
        assert_eq!(classify_switch(&futex, true), Preempted);
        assert_eq!(classify_switch(&["__schedule", "schedule"], false), Other);
        assert_eq!(classify_switch(&[], false), Other);
    }
}
