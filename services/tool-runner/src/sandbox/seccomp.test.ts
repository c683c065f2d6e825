import { describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_ETC, DEFAULT_SANDBOX_LIMITS } from './bwrap.ts';
import { probeSandbox } from './probe.ts';
import {
  buildSeccompFilter,
  SECCOMP_ARCHES,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  seccompInstructions,
  UnsupportedSeccompArchError,
  X32_SYSCALL_BIT,
  type BpfInstruction,
} from './seccomp.ts';
import type { Workspaces } from './workspaces.ts';

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_ARM = 0x40000028;
const DENY_EPERM = SECCOMP_RET_ERRNO | 1;

/**
 * A classic-BPF interpreter for the opcodes a seccomp filter may use here, run the way the kernel
 * runs it: on `struct seccomp_data` (nr at offset 0, arch at 4), jumps relative to the next
 * instruction, falling off the end or an unknown opcode being an error.
 */
function runFilter(program: readonly BpfInstruction[], data: { nr: number; arch: number }): number {
  let a = 0;
  for (let pc = 0, steps = 0; pc < program.length && steps < 4096; steps++) {
    const { code, jt, jf, k } = program[pc]!;
    switch (code) {
      case 0x20: // BPF_LD | BPF_W | BPF_ABS
        if (k === 0) a = data.nr >>> 0;
        else if (k === 4) a = data.arch >>> 0;
        else throw new Error(`load from unexpected offset ${k}`);
        pc += 1;
        break;
      case 0x15: // BPF_JMP | BPF_JEQ | BPF_K
        pc += 1 + (a === k >>> 0 ? jt : jf);
        break;
      case 0x35: // BPF_JMP | BPF_JGE | BPF_K
        pc += 1 + (a >= k >>> 0 ? jt : jf);
        break;
      case 0x06: // BPF_RET | BPF_K
        return k >>> 0;
      default:
        throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('the program ran off its end');
}

/** Decodes bwrap's view of the buffer: 8-byte `struct sock_filter`s. */
function decode(buf: Buffer, byteOrder: 'LE' | 'BE'): BpfInstruction[] {
  const out: BpfInstruction[] = [];
  for (let at = 0; at < buf.length; at += 8) {
    out.push({
      code: byteOrder === 'LE' ? buf.readUInt16LE(at) : buf.readUInt16BE(at),
      jt: buf.readUInt8(at + 2),
      jf: buf.readUInt8(at + 3),
      k: byteOrder === 'LE' ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at + 4),
    });
  }
  return out;
}

describe('the sandbox seccomp filter', () => {
  it('checks the architecture before anything else, then loads the syscall number', () => {
    for (const [arch, auditArch] of [['x64', AUDIT_ARCH_X86_64], ['arm64', AUDIT_ARCH_AARCH64]] as const) {
      const program = seccompInstructions(arch);
      expect(program[0]).toEqual({ code: 0x20, jt: 0, jf: 0, k: 4 });
      // A mismatch jumps straight to the last instruction: kill.
      expect(program[1]).toMatchObject({ code: 0x15, jt: 0, k: auditArch });
      expect(2 + program[1]!.jf).toBe(program.length - 1);
      expect(program.at(-1)).toEqual({ code: 0x06, jt: 0, jf: 0, k: SECCOMP_RET_KILL_PROCESS });
      expect(program[2]).toEqual({ code: 0x20, jt: 0, jf: 0, k: 0 });
    }
  });

  it('is as small as planned: arch check, nr load, [x32 check], one test per SysV IPC syscall, three returns', () => {
    expect(seccompInstructions('x64')).toHaveLength(3 + 1 + 12 + 3);
    expect(seccompInstructions('arm64')).toHaveLength(3 + 12 + 3);
    expect(buildSeccompFilter('x64')).toHaveLength(19 * 8);
  });

  it('denies every SysV IPC syscall with EPERM and allows the rest, on x86_64 and arm64', () => {
    for (const [arch, auditArch] of [['x64', AUDIT_ARCH_X86_64], ['arm64', AUDIT_ARCH_AARCH64]] as const) {
      const program = seccompInstructions(arch);
      const denied = SECCOMP_ARCHES[arch]!.denied;
      expect(Object.keys(denied).sort()).toEqual(
        ['msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop', 'shmat', 'shmctl', 'shmdt', 'shmget'],
      );
      for (const nr of Object.values(denied)) expect(runFilter(program, { arch: auditArch, nr })).toBe(DENY_EPERM);
      const deniedNrs = new Set(Object.values(denied));
      for (let nr = 0; nr < 500; nr++) {
        if (!deniedNrs.has(nr)) expect(runFilter(program, { arch: auditArch, nr }), `${arch} nr ${nr}`).toBe(SECCOMP_RET_ALLOW);
      }
    }
    // The well-known numbers, spelled out once more against a typo in the table.
    expect(SECCOMP_ARCHES.x64!.denied).toMatchObject({ shmget: 29, shmat: 30, shmctl: 31, semget: 64, msgget: 68 });
    expect(SECCOMP_ARCHES.arm64!.denied).toMatchObject({ shmget: 194, shmctl: 195, shmat: 196, semget: 190, msgget: 186 });
  });

  it('kills syscalls made through another ABI, and x32 syscalls on x86_64', () => {
    const x64 = seccompInstructions('x64');
    // i386 shmget through int 0x80 (395), the old ipc(2) multiplexer (117), even getpid (20).
    for (const nr of [395, 117, 20]) expect(runFilter(x64, { arch: AUDIT_ARCH_I386, nr })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runFilter(x64, { arch: AUDIT_ARCH_AARCH64, nr: 194 })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runFilter(x64, { arch: AUDIT_ARCH_X86_64, nr: X32_SYSCALL_BIT | 29 })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runFilter(x64, { arch: AUDIT_ARCH_X86_64, nr: X32_SYSCALL_BIT | 39 })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runFilter(x64, { arch: AUDIT_ARCH_X86_64, nr: -1 })).toBe(SECCOMP_RET_KILL_PROCESS);
    const arm64 = seccompInstructions('arm64');
    expect(runFilter(arm64, { arch: AUDIT_ARCH_ARM, nr: 307 })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runFilter(arm64, { arch: AUDIT_ARCH_X86_64, nr: 29 })).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it('encodes struct sock_filter in the requested byte order', () => {
    const program = seccompInstructions('x64');
    const le = buildSeccompFilter('x64', 'LE');
    expect([...le.subarray(0, 16)]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 16, 0x3e, 0, 0, 0xc0]);
    expect(decode(le, 'LE')).toEqual(program);
    expect(decode(buildSeccompFilter('x64', 'BE'), 'BE')).toEqual(program);
  });

  it('has no filter for other architectures, and the self-check then keeps the shell disabled', async () => {
    expect(() => seccompInstructions('ia32')).toThrow(UnsupportedSeccompArchError);
    expect(() => buildSeccompFilter('constructor')).toThrow(/no seccomp filter for the constructor architecture/);
    const workspaces = { rootDir: '/nonexistent', owner: undefined, ensure: () => Promise.reject(new Error('not reached')) } as unknown as Workspaces;
    const settings = { bwrapPath: 'bwrap', uid: 65534, gid: 65534, limits: DEFAULT_SANDBOX_LIMITS, etcEntries: DEFAULT_SANDBOX_ETC };
    expect(await probeSandbox(settings, workspaces, 0, 'riscv64')).toEqual({
      ok: false,
      reason: 'no seccomp filter for the riscv64 architecture (only x64, arm64): SysV IPC could not be blocked',
    });
  });
});
