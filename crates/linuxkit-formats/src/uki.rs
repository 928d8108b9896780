//! Unified Kernel Image (UKI) builder: the systemd EFI stub
//! (`linuxx64.efi.stub` from `systemd-boot-efi`) with the kernel, initrd,
//! command line and os-release appended as PE sections, laid out the way
//! systemd's `ukify build` (`pe_add_sections`) does it.
//!
//! The stub is first normalised as ukify does: a COFF symbol table at the
//! end of the file is dropped, section raw data is aligned to
//! `FileAlignment`, and `SizeOfHeaders` is rounded up to `FileAlignment`
//! (that padding is where the new section headers go). Then each new
//! section, in ukify's order `.osrel`, `.cmdline`, `.uname` (optional),
//! `.initrd`, `.linux`, gets: a header right after the last one (it must fit
//! inside `SizeOfHeaders`), raw data at the end of the file rounded up to
//! `FileAlignment` and zero-padded to it, a virtual address after the last
//! section's end rounded up to `SectionAlignment`, and the flags
//! `MEM_READ | CNT_INITIALIZED_DATA` (`.linux`: `MEM_READ | CNT_CODE`). The
//! `.linux` virtual size is the kernel's own `SizeOfImage` when the kernel
//! is a PE image (the EFI-stub bzImage is), as ukify does, but never less
//! than the data. Finally `NumberOfSections`, `SizeOfInitializedData` (plus
//! each new section's virtual size), `SizeOfImage` (end of the last section,
//! aligned) are updated and `CheckSum` is zeroed, all as ukify.
//!
//! Section contents are verbatim: `.cmdline` is the string as given, not
//! NUL-terminated (ukify collapses whitespace of an inline `--cmdline`; do
//! that before calling if wanted); `.uname` defaults to the version scraped
//! from the bzImage header, as ukify's autodetection. Not done: signing,
//! `.sbat` merging, PCR signatures, splash, devicetree, profiles.

use crate::Shared;
use std::borrow::Cow;
use std::fmt;

const SECTION_HEADER: usize = 40;
const PE32_PLUS: u16 = 0x20b;
const SCN_CNT_CODE: u32 = 0x0000_0020;
const SCN_CNT_INITIALIZED_DATA: u32 = 0x0000_0040;
const SCN_MEM_READ: u32 = 0x4000_0000;
const FILE_LOCAL_SYMS_STRIPPED: u16 = 0x0008;

/// Why a UKI could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UkiError {
    /// The stub is not a PE image at all.
    #[error("EFI stub is not a PE image: {0}")]
    NotPe(&'static str),
    /// The stub is a PE image, but not PE32+ (a 32-bit stub).
    #[error(
        "EFI stub is not PE32+ (optional header magic {0:#06x}, expected 0x020b): use the 64-bit stub"
    )]
    NotPe32Plus(u16),
    /// The stub's headers are inconsistent.
    #[error("EFI stub is malformed: {0}")]
    Malformed(&'static str),
    /// The stub carries an Authenticode signature.
    #[error("EFI stub is signed; refusing to modify it (as ukify)")]
    Signed,
    /// No room for another section header before the first section's data.
    #[error(
        "EFI stub has no room for the {section} section header: it would end at {needed:#x}, past SizeOfHeaders {size_of_headers:#x}"
    )]
    NoHeaderRoom {
        /// Section being added.
        section: String,
        /// End offset the new header needs.
        needed: usize,
        /// The stub's (aligned) SizeOfHeaders.
        size_of_headers: usize,
    },
    /// The stub already has a section of that name.
    #[error("EFI stub already has a {0} section")]
    Duplicate(String),
    /// The image would exceed PE's 32-bit sizes.
    #[error("UKI too large: {0} does not fit 32 bits")]
    TooLarge(&'static str),
}

/// What goes into the UKI besides the stub.
#[derive(Clone, Copy)]
pub struct UkiParts<'a> {
    /// The kernel (bzImage with EFI stub) for `.linux`.
    pub kernel: &'a [u8],
    /// The initrd for `.initrd`; empty means no `.initrd` section.
    pub initrd: &'a [u8],
    /// Kernel command line for `.cmdline`; empty means none.
    pub cmdline: &'a str,
    /// os-release text for `.osrel`; empty means none.
    pub os_release: &'a str,
    /// `.uname` text; `None` scrapes it from the bzImage header (no section
    /// if that fails), `Some("")` means no section.
    pub uname: Option<&'a str>,
}

impl fmt::Debug for UkiParts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UkiParts")
            .field("kernel", &self.kernel.len())
            .field("initrd", &self.initrd.len())
            .field("cmdline", &self.cmdline)
            .field("os_release", &self.os_release)
            .field("uname", &self.uname)
            .finish()
    }
}

/// Build a UKI from the stub, kernel, initrd, command line and os-release
/// (`.uname` scraped from the kernel as ukify does).
pub fn build_uki(
    stub: &[u8],
    kernel: &[u8],
    initrd: &[u8],
    cmdline: &str,
    os_release: &str,
) -> Result<Vec<u8>, UkiError> {
    build_uki_parts(
        stub,
        &UkiParts {
            kernel,
            initrd,
            cmdline,
            os_release,
            uname: None,
        },
    )
}

/// Build a UKI with full control over the sections.
pub fn build_uki_parts(stub: &[u8], parts: &UkiParts<'_>) -> Result<Vec<u8>, UkiError> {
    let (head, placed, len) = layout(stub, parts)?;
    let mut out = vec![0u8; len];
    assemble(&mut out, &head, &placed);
    Ok(out)
}

/// [`build_uki`] as a sparse image whose `.linux` and `.initrd` segments
/// are the `kernel` and `initrd` buffers themselves: nothing of the kernel
/// or initrd is copied (the headers and small sections are).
pub fn build_uki_segments(
    stub: &[u8],
    kernel: &Shared,
    initrd: &Shared,
    cmdline: &str,
    os_release: &str,
) -> Result<crate::disk::SparseImage, UkiError> {
    let parts = UkiParts {
        kernel,
        initrd,
        cmdline,
        os_release,
        uname: None,
    };
    let (head, placed, len) = layout(stub, &parts)?;
    let mut segments: Vec<(u64, Shared)> = vec![(0, Shared::from(head))];
    for (at, content) in placed {
        let shared = [kernel, initrd].into_iter().find(|a| {
            matches!(&content, Cow::Borrowed(b) if std::ptr::eq(b.as_ptr(), a.as_ptr()) && b.len() == a.len())
        });
        let bytes = match shared {
            Some(a) => a.clone(),
            None => Shared::from(&*content),
        };
        if !bytes.is_empty() {
            segments.push((at as u64, bytes));
        }
    }
    crate::disk::SparseImage::new(len as u64, segments)
        .map_err(|_| UkiError::Malformed("sections overlap the headers"))
}

/// Copy the headers and the sections' contents into `out` (zeroed, of the
/// file's length: the gaps are the alignment padding).
fn assemble(out: &mut [u8], head: &[u8], placed: &[(usize, Cow<'_, [u8]>)]) {
    out[..head.len()].copy_from_slice(head);
    for (at, content) in placed {
        out[*at..*at + content.len()].copy_from_slice(content);
    }
}

type Layout<'a> = (Vec<u8>, Vec<(usize, Cow<'a, [u8]>)>, usize);

/// The UKI's headers, where each section's content goes, and its length.
fn layout<'a>(stub: &[u8], parts: &UkiParts<'a>) -> Result<Layout<'a>, UkiError> {
    let uname = match parts.uname {
        Some(u) => Some(u.to_string()),
        None => kernel_version(parts.kernel),
    };
    let linux_vsize = pe_size_of_image(parts.kernel)
        .map(|s| s as usize)
        .unwrap_or(0)
        .max(parts.kernel.len());
    let mut sections: Vec<(&str, Cow<'a, [u8]>, usize)> = Vec::new();
    if !parts.os_release.is_empty() {
        sections.push((".osrel", Cow::Borrowed(parts.os_release.as_bytes()), 0));
    }
    if !parts.cmdline.is_empty() {
        sections.push((".cmdline", Cow::Borrowed(parts.cmdline.as_bytes()), 0));
    }
    if let Some(u) = uname.filter(|u| !u.is_empty()) {
        sections.push((".uname", Cow::Owned(u.into_bytes()), 0));
    }
    if !parts.initrd.is_empty() {
        sections.push((".initrd", Cow::Borrowed(parts.initrd), 0));
    }
    sections.push((".linux", Cow::Borrowed(parts.kernel), linux_vsize));

    let mut pe = Pe::parse(stub)?;
    pe.normalise()?;
    let mut placed = Vec::new();
    for (name, data, vsize) in sections {
        let at = pe.add_section(name, data.len(), vsize.max(data.len()))?;
        placed.push((at, data));
    }
    let (head, len) = pe.finish()?;
    Ok((head, placed, len))
}

/// Little-endian field access that reports truncation instead of panicking.
fn rd16(b: &[u8], at: usize) -> Result<u16, UkiError> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(UkiError::NotPe("truncated headers"))
}

fn rd32(b: &[u8], at: usize) -> Result<u32, UkiError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(UkiError::NotPe("truncated headers"))
}

fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn wr32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn round_up(x: usize, align: usize) -> usize {
    x.div_ceil(align) * align
}

fn to32(v: usize, what: &'static str) -> Result<u32, UkiError> {
    u32::try_from(v).map_err(|_| UkiError::TooLarge(what))
}

/// `SizeOfImage` of a PE32/PE32+ image, `None` if `b` is not one.
fn pe_size_of_image(b: &[u8]) -> Option<u32> {
    if b.get(..2)? != b"MZ" {
        return None;
    }
    let pe = rd32(b, 0x3c).ok()? as usize;
    if b.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    rd32(b, pe + 24 + 56).ok()
}

/// The raw data of the PE section `name` (`.linux`, `.initrd`, ...) of a
/// PE image such as a UKI, or `None` when it is not a PE image or has no
/// such section.
pub fn pe_section<'a>(pe: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(pe.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(pe.get(o..o + 4)?.try_into().ok()?));
    if pe.get(0..2)? != b"MZ" {
        return None;
    }
    let hdr = u32_at(0x3c)? as usize;
    if pe.get(hdr..hdr + 4)? != b"PE\0\0" {
        return None;
    }
    let count = u16_at(hdr + 6)? as usize;
    let opt = u16_at(hdr + 20)? as usize;
    let table = hdr + 24 + opt;
    for i in 0..count {
        let h = table + i * SECTION_HEADER;
        let raw_name = pe.get(h..h + 8)?;
        let end = raw_name.iter().position(|&b| b == 0).unwrap_or(8);
        if &raw_name[..end] == name.as_bytes() {
            let vsize = u32_at(h + 8)? as usize;
            let raw = u32_at(h + 16)? as usize;
            let ptr = u32_at(h + 20)? as usize;
            // The raw data is padded to FileAlignment; VirtualSize is the
            // true size when smaller (`.linux` has the kernel's SizeOfImage).
            let len = if vsize == 0 { raw } else { raw.min(vsize) };
            return pe.get(ptr..ptr.checked_add(len)?);
        }
    }
    None
}

/// The kernel release from a bzImage's real-mode header (`kernel_version`
/// pointer at 0x20e), as ukify's `Uname.scrape_x86`: the first word of
/// "6.1.0-28-cloud-amd64 (debian-kernel@…) #1 SMP …".
pub fn kernel_version(kernel: &[u8]) -> Option<String> {
    if kernel.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let at = 0x200 + rd16(kernel, 0x20e).ok()? as usize;
    let text = kernel.get(at..(at + 128).min(kernel.len()))?;
    let text = &text[..text.iter().position(|&c| c == 0).unwrap_or(text.len())];
    let text = std::str::from_utf8(text).ok()?;
    let (version, rest) = text.split_once(' ')?;
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    let (host, tail) = rest.strip_prefix('(')?.split_once(')')?;
    (!version.is_empty()
        && version.chars().all(ok)
        && !host.is_empty()
        && !host.contains(' ')
        && tail.starts_with(" #"))
    .then(|| version.to_string())
}

/// A PE32+ image being extended; offsets of the headers we edit.
struct Pe {
    /// The stub, headers updated as sections are added.
    data: Vec<u8>,
    /// The file length once the added sections are placed after `data`
    /// (their bytes are copied only when the image is assembled).
    len: Option<usize>,
    coff: usize,
    opt: usize,
    sections: usize,
    count: usize,
    file_align: usize,
    section_align: usize,
    /// Stub sections (before any we add).
    original: usize,
}

impl Pe {
    fn parse(stub: &[u8]) -> Result<Pe, UkiError> {
        if stub.get(..2) != Some(b"MZ") {
            return Err(UkiError::NotPe("no MZ signature"));
        }
        let pe = rd32(stub, 0x3c)? as usize;
        if stub.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err(UkiError::NotPe("no PE signature"));
        }
        let coff = pe + 4;
        let opt = coff + 20;
        let magic = rd16(stub, opt)?;
        if magic != PE32_PLUS {
            return Err(UkiError::NotPe32Plus(magic));
        }
        let count = rd16(stub, coff + 2)? as usize;
        let opt_size = rd16(stub, coff + 16)? as usize;
        if opt_size < 112 {
            return Err(UkiError::Malformed("optional header too short"));
        }
        let section_align = rd32(stub, opt + 32)? as usize;
        let file_align = rd32(stub, opt + 36)? as usize;
        if !section_align.is_power_of_two() || !file_align.is_power_of_two() {
            return Err(UkiError::Malformed("alignment is not a power of two"));
        }
        let sections = opt + opt_size;
        if count == 0 || stub.len() < sections + count * SECTION_HEADER {
            return Err(UkiError::Malformed("section table missing or truncated"));
        }
        let p = Pe {
            data: stub.to_vec(),
            len: None,
            coff,
            opt,
            sections,
            count,
            file_align,
            section_align,
            original: count,
        };
        // Security (certificate table) directory: entry 4.
        let dirs = rd32(stub, opt + 108)? as usize;
        if dirs > 4 && opt_size >= 112 + 5 * 8 && rd32(stub, opt + 112 + 4 * 8)? != 0 {
            return Err(UkiError::Signed);
        }
        for i in 0..count {
            let (ptr, size) = (p.get(i, 20)? as usize, p.get(i, 16)? as usize);
            if ptr.checked_add(size).is_none_or(|end| end > stub.len()) {
                return Err(UkiError::Malformed("section data past the end of the file"));
            }
        }
        Ok(p)
    }

    fn hdr(&self, i: usize) -> usize {
        self.sections + i * SECTION_HEADER
    }

    fn get(&self, i: usize, field: usize) -> Result<u32, UkiError> {
        rd32(&self.data, self.hdr(i) + field)
    }

    fn set(&mut self, i: usize, field: usize, v: u32) {
        let at = self.hdr(i) + field;
        wr32(&mut self.data, at, v);
    }

    fn name(&self, i: usize) -> &[u8] {
        let h = self.hdr(i);
        let n = &self.data[h..h + 8];
        &n[..n.iter().position(|&c| c == 0).unwrap_or(8)]
    }

    /// ukify's stub clean-up: drop a trailing symbol table, align section
    /// raw data, round SizeOfHeaders up to FileAlignment.
    fn normalise(&mut self) -> Result<(), UkiError> {
        let symtab = rd32(&self.data, self.coff + 8)? as usize;
        if symtab != 0 {
            let mut size = 18 * rd32(&self.data, self.coff + 12)? as usize;
            if let Ok(strings) = rd32(&self.data, symtab + size) {
                size += strings as usize;
            }
            if symtab + size == self.data.len() {
                self.data.truncate(symtab);
                let (coff, ch) = (self.coff, rd16(&self.data, self.coff + 18)?);
                wr32(&mut self.data, coff + 8, 0);
                wr32(&mut self.data, coff + 12, 0);
                wr16(&mut self.data, coff + 18, ch | FILE_LOCAL_SYMS_STRIPPED);
            }
        }
        for i in 0..self.count {
            let old_ptr = self.get(i, 20)? as usize;
            let old_size = self.get(i, 16)? as usize;
            let ptr = round_up(old_ptr, self.file_align);
            let size = round_up(old_size, self.file_align);
            let (pad_ptr, pad_size) = (ptr - old_ptr, size - old_size);
            if pad_ptr + pad_size == 0 {
                continue;
            }
            self.set(i, 20, to32(ptr, "section offset")?);
            self.set(i, 16, to32(size, "section size")?);
            for j in i + 1..self.count {
                let later = self.get(j, 20)? as usize + pad_ptr + pad_size;
                self.set(j, 20, to32(later, "section offset")?);
            }
            let end = (old_ptr + old_size).min(self.data.len());
            self.data.splice(end..end, std::iter::repeat_n(0, pad_size));
            self.data
                .splice(old_ptr..old_ptr, std::iter::repeat_n(0, pad_ptr));
        }
        let headers = round_up(rd32(&self.data, self.opt + 60)? as usize, self.file_align);
        let first_data = (0..self.count)
            .map(|i| self.get(i, 20).map(|p| p as usize))
            .filter(|p| !matches!(p, Ok(0)))
            .try_fold(usize::MAX, |m, p| p.map(|p| m.min(p)))?;
        if headers > first_data {
            return Err(UkiError::Malformed(
                "SizeOfHeaders overlaps the first section's data",
            ));
        }
        let opt = self.opt;
        wr32(&mut self.data, opt + 60, to32(headers, "SizeOfHeaders")?);
        Ok(())
    }

    /// Add a section header for `content` (`size` bytes); returns the file
    /// offset where the content goes.
    fn add_section(&mut self, name: &str, size: usize, vsize: usize) -> Result<usize, UkiError> {
        if (0..self.original).any(|i| self.name(i) == name.as_bytes()) {
            return Err(UkiError::Duplicate(name.to_string()));
        }
        let at = self.hdr(self.count);
        let size_of_headers = rd32(&self.data, self.opt + 60)? as usize;
        if at + SECTION_HEADER > size_of_headers {
            return Err(UkiError::NoHeaderRoom {
                section: name.to_string(),
                needed: at + SECTION_HEADER,
                size_of_headers,
            });
        }
        let last = self.count - 1;
        let va = round_up(
            self.get(last, 12)? as usize + self.get(last, 8)? as usize,
            self.section_align,
        );
        let ptr = round_up(self.len.unwrap_or(self.data.len()), self.file_align);
        let raw = round_up(size, self.file_align);
        let flags = SCN_MEM_READ
            | if name == ".linux" {
                SCN_CNT_CODE
            } else {
                SCN_CNT_INITIALIZED_DATA
            };
        let mut h = [0u8; SECTION_HEADER];
        h[..name.len().min(8)].copy_from_slice(&name.as_bytes()[..name.len().min(8)]);
        wr32(&mut h, 8, to32(vsize, "section virtual size")?);
        wr32(&mut h, 12, to32(va, "section address")?);
        wr32(&mut h, 16, to32(raw, "section size")?);
        wr32(&mut h, 20, to32(ptr, "section offset")?);
        wr32(&mut h, 36, flags);
        self.data[at..at + SECTION_HEADER].copy_from_slice(&h);
        self.len = Some(ptr + raw);
        self.count += 1;
        let (coff, opt) = (self.coff, self.opt);
        wr16(&mut self.data, coff + 2, self.count as u16);
        let init = rd32(&self.data, opt + 8)?
            .checked_add(to32(vsize, "section size")?)
            .ok_or(UkiError::TooLarge("SizeOfInitializedData"))?;
        wr32(&mut self.data, opt + 8, init);
        Ok(ptr)
    }

    /// The headers (and stub) and the total file length.
    fn finish(mut self) -> Result<(Vec<u8>, usize), UkiError> {
        let last = self.count - 1;
        let end = self.get(last, 12)? as usize + self.get(last, 8)? as usize;
        let opt = self.opt;
        wr32(
            &mut self.data,
            opt + 56,
            to32(round_up(end, self.section_align), "SizeOfImage")?,
        );
        wr32(&mut self.data, opt + 64, 0);
        let len = self.len.unwrap_or(self.data.len());
        Ok((self.data, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linuxkit_test_support::tools::check_stdout as run;
    use std::process::Command;

    const DEFAULT_STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
    const OS_RELEASE: &str = "NAME=\"LinuxKit\"\nID=linuxkit\n";
    const CMDLINE: &str = "console=ttyS0 console=tty0 page_poison=1";
    const UNAME: &str = "6.1.0-28-cloud-amd64";

    #[test]
    fn the_segmented_uki_is_the_same_image_and_shares_kernel_and_initrd() {
        use crate::disk::DiskSource;
        let stub = stub();
        let kernel: Shared = kernel().into();
        let initrd: Shared = vec![7u8; 300_001].into();
        let whole = build_uki(&stub, &kernel, &initrd, CMDLINE, OS_RELEASE).unwrap();
        let seg = build_uki_segments(&stub, &kernel, &initrd, CMDLINE, OS_RELEASE).unwrap();
        let mut dense = vec![0u8; seg.len() as usize];
        seg.read_at(0, &mut dense).unwrap();
        assert!(
            dense == whole,
            "the segmented UKI differs from the built one"
        );
        for (what, a) in [("kernel", &kernel), ("initrd", &initrd)] {
            assert!(
                seg.segments().iter().any(|(_, s)| Shared::ptr_eq(s, a)),
                "the {what} was copied"
            );
        }
    }

    /// The systemd stub: `$LINUXKIT_TEST_EFI_STUB` or the Debian path.
    fn stub() -> Vec<u8> {
        let path = std::env::var("LINUXKIT_TEST_EFI_STUB").unwrap_or_else(|_| DEFAULT_STUB.into());
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the systemd EFI stub {path}: {e}; install Debian's \
                 systemd-boot-efi or set LINUXKIT_TEST_EFI_STUB"
            )
        })
    }

    /// A stand-in bzImage: PE32+ headers with SizeOfImage 0x200_0000, the
    /// real-mode "HdrS" header with a kernel_version string, noise after.
    fn kernel() -> Vec<u8> {
        let mut k: Vec<u8> = (0..70_001u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        k[..0x200].fill(0);
        k[..2].copy_from_slice(b"MZ");
        wr32(&mut k, 0x3c, 0x40);
        k[0x40..0x44].copy_from_slice(b"PE\0\0");
        wr16(&mut k, 0x40 + 24, PE32_PLUS);
        wr32(&mut k, 0x40 + 24 + 56, 0x200_0000);
        k[0x202..0x206].copy_from_slice(b"HdrS");
        wr16(&mut k, 0x20e, 0x100);
        let v = format!("{UNAME} (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.119-1\0");
        k[0x300..0x300 + v.len()].copy_from_slice(v.as_bytes());
        k
    }

    fn initrd() -> Vec<u8> {
        (0..123_457u32).map(|i| (i % 251) as u8).collect()
    }

    /// (name, virtual size, VMA, file offset, raw size, flags) per section,
    /// read back from the headers.
    fn sections(img: &[u8]) -> Vec<(String, u32, u32, u32, u32, u32)> {
        let p = Pe::parse(img).unwrap();
        (0..p.count)
            .map(|i| {
                let name = String::from_utf8(p.name(i).to_vec()).unwrap();
                let f = |o| p.get(i, o).unwrap();
                (name, f(8), f(12), f(20), f(16), f(36))
            })
            .collect()
    }

    fn section_data<'a>(img: &'a [u8], name: &str) -> &'a [u8] {
        let (_, vsize, _, ptr, raw, _) = sections(img)
            .into_iter()
            .find(|s| s.0 == name)
            .unwrap_or_else(|| panic!("no {name} section"));
        &img[ptr as usize..(ptr + vsize.min(raw)) as usize]
    }

    #[test]
    fn sections_read_back() {
        let uki = build_uki(&stub(), &kernel(), &initrd(), CMDLINE, OS_RELEASE).unwrap();
        assert_eq!(pe_section(&uki, ".cmdline"), Some(CMDLINE.as_bytes()));
        assert_eq!(pe_section(&uki, ".initrd"), Some(&initrd()[..]));
        let k = kernel();
        let linux = pe_section(&uki, ".linux").unwrap();
        assert_eq!(&linux[..k.len()], &k[..]);
        assert!(
            linux[k.len()..].iter().all(|&b| b == 0),
            "only padding after"
        );
        assert_eq!(pe_section(&uki, ".nosuch"), None);
        assert_eq!(pe_section(b"not a PE image", ".linux"), None);
        assert_eq!(pe_section(&uki[..200], ".linux"), None);
    }

    #[test]
    fn layout_matches_ukify() {
        let stub = stub();
        let orig = sections(&stub);
        let uki = build_uki(&stub, &kernel(), &initrd(), CMDLINE, OS_RELEASE).unwrap();
        let secs = sections(&uki);
        let names: Vec<&str> = secs[orig.len()..].iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, [".osrel", ".cmdline", ".uname", ".initrd", ".linux"]);
        let p = Pe::parse(&uki).unwrap();
        let (fa, sa) = (p.file_align as u32, p.section_align as u32);
        for w in secs.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            assert!(b.2 >= a.2 + a.1, "{} overlaps {}", a.0, b.0);
        }
        for s in &secs[orig.len()..] {
            assert_eq!(s.2 % sa, 0, "{} VMA aligned", s.0);
            assert_eq!(s.3 % fa, 0, "{} offset aligned", s.0);
            assert_eq!(s.4 % fa, 0, "{} raw size aligned", s.0);
            assert_eq!(
                s.5,
                SCN_MEM_READ
                    | if s.0 == ".linux" {
                        SCN_CNT_CODE
                    } else {
                        SCN_CNT_INITIALIZED_DATA
                    }
            );
        }
        // The first new section follows the stub's last one.
        let (last, first) = (&orig[orig.len() - 1], &secs[orig.len()]);
        assert_eq!(
            first.2 as usize,
            round_up((last.2 + last.1) as usize, sa as usize)
        );
        let linux = secs.last().unwrap();
        assert_eq!(
            linux.1, 0x200_0000,
            ".linux virtual size is the kernel's SizeOfImage"
        );
        assert_eq!(
            rd32(&uki, p.opt + 56).unwrap(),
            round_up((linux.2 + linux.1) as usize, sa as usize) as u32
        );
        assert_eq!(rd32(&uki, p.opt + 64).unwrap(), 0, "checksum zeroed");
        let added: u32 = secs[orig.len()..].iter().map(|s| s.1).sum();
        let stub_pe = Pe::parse(&stub).unwrap();
        assert_eq!(
            rd32(&uki, p.opt + 8).unwrap(),
            rd32(&stub, stub_pe.opt + 8).unwrap() + added
        );
        assert_eq!(uki.len() % fa as usize, 0);
        // Stub sections keep their contents.
        for (i, s) in orig.iter().enumerate() {
            let before = &stub[s.3 as usize..(s.3 + s.4) as usize];
            assert_eq!(section_data(&uki, &secs[i].0).len(), s.1.min(s.4) as usize);
            assert!(
                uki[secs[i].3 as usize..][..before.len()] == *before,
                "{}",
                s.0
            );
        }
        assert_eq!(section_data(&uki, ".osrel"), OS_RELEASE.as_bytes());
        assert_eq!(section_data(&uki, ".cmdline"), CMDLINE.as_bytes());
        assert_eq!(section_data(&uki, ".uname"), UNAME.as_bytes());
        assert!(section_data(&uki, ".initrd") == &initrd()[..]);
        // .linux: virtual size past the raw data, which is zero-padded.
        let (k, linux) = (kernel(), section_data(&uki, ".linux"));
        assert!(linux[..k.len()] == k[..] && linux[k.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn objdump_reads_it() {
        let uki = build_uki(&stub(), &kernel(), &initrd(), CMDLINE, OS_RELEASE).unwrap();
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("uki.efi");
        std::fs::write(&f, &uki).unwrap();
        let h = run(Command::new("objdump").arg("-h").arg(&f));
        assert!(h.contains("file format pei-x86-64"), "{h}");
        // "  9 .cmdline      0000002a  0000000000019400  ...  00011600  2**2"
        let rows: Vec<Vec<&str>> = h
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|w| w.len() == 7 && w[0].parse::<u32>().is_ok())
            .collect();
        let ours = sections(&uki);
        assert_eq!(rows.len(), ours.len());
        let mut prev = 0u64;
        for (row, s) in rows.iter().zip(&ours) {
            assert_eq!(row[1], s.0);
            let vma = u64::from_str_radix(row[3], 16).unwrap();
            assert_eq!(vma, u64::from(s.2));
            assert_eq!(u64::from_str_radix(row[5], 16).unwrap(), u64::from(s.3));
            assert!(vma > prev, "VMAs ascend");
            prev = vma;
        }
        let row = |n: &str| rows.iter().find(|r| r[1] == n).unwrap().clone();
        assert_eq!(
            u64::from_str_radix(row(".cmdline")[2], 16).unwrap(),
            CMDLINE.len() as u64
        );
        assert_eq!(
            u64::from_str_radix(row(".osrel")[2], 16).unwrap(),
            OS_RELEASE.len() as u64
        );
        for (name, want) in [
            (".cmdline", CMDLINE),
            (".osrel", OS_RELEASE),
            (".uname", UNAME),
        ] {
            let out = d.path().join(name);
            run(Command::new("objcopy")
                .args(["-O", "binary", "--only-section", name])
                .arg(&f)
                .arg(&out));
            assert_eq!(std::fs::read(&out).unwrap(), want.as_bytes(), "{name}");
        }
        let p = run(Command::new("objdump").arg("-p").arg(&f));
        assert!(p.contains("CheckSum\t\t00000000"), "{p}");
    }

    #[test]
    fn deterministic() {
        let a = build_uki(&stub(), &kernel(), &initrd(), CMDLINE, OS_RELEASE).unwrap();
        let b = build_uki(&stub(), &kernel(), &initrd(), CMDLINE, OS_RELEASE).unwrap();
        assert_eq!(a, b);
    }

    /// A minimal PE32+ with one section, room for `spare` more headers, an
    /// unaligned last section and a trailing symbol table.
    fn mini(spare: usize) -> Vec<u8> {
        let (pe, opt_size) = (0x40usize, 0xf0usize);
        let table = pe + 24 + opt_size;
        let headers = table + (1 + spare) * SECTION_HEADER;
        let mut b = vec![0u8; 0x400];
        b[..2].copy_from_slice(b"MZ");
        wr32(&mut b, 0x3c, pe as u32);
        b[pe..pe + 4].copy_from_slice(b"PE\0\0");
        wr16(&mut b, pe + 4, 0x8664);
        wr16(&mut b, pe + 6, 1);
        wr16(&mut b, pe + 20, opt_size as u16);
        let opt = pe + 24;
        wr16(&mut b, opt, PE32_PLUS);
        wr32(&mut b, opt + 32, 0x1000);
        wr32(&mut b, opt + 36, 0x200);
        wr32(&mut b, opt + 56, 0x2000);
        wr32(&mut b, opt + 60, headers as u32);
        wr32(&mut b, opt + 108, 16);
        b[table..table + 5].copy_from_slice(b".text");
        wr32(&mut b, table + 8, 0x10);
        wr32(&mut b, table + 12, 0x1000);
        wr32(&mut b, table + 16, 0x10);
        wr32(&mut b, table + 20, 0x400);
        b.truncate(0x400);
        b.extend_from_slice(&[0xc3; 0x10]);
        // symbol table: 1 symbol + string table length 4
        wr32(&mut b, pe + 12, 0x410);
        wr32(&mut b, pe + 16, 1);
        b.extend_from_slice(&[0u8; 18]);
        b.extend_from_slice(&4u32.to_le_bytes());
        b
    }

    #[test]
    fn normalises_like_ukify() {
        let uki = build_uki(&mini(8), &kernel(), b"", "", "").unwrap();
        let secs = sections(&uki);
        let names: Vec<&str> = secs.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, [".text", ".uname", ".linux"]);
        assert_eq!(
            (secs[0].3, secs[0].4),
            (0x400, 0x200),
            ".text raw size aligned"
        );
        assert_eq!(secs[1].2, 0x2000);
        assert_eq!(secs[1].3, 0x600, "symbol table dropped, data follows .text");
        let p = Pe::parse(&uki).unwrap();
        assert_eq!(rd32(&uki, p.coff + 8).unwrap(), 0);
        assert_ne!(
            rd16(&uki, p.coff + 18).unwrap() & FILE_LOCAL_SYMS_STRIPPED,
            0
        );
    }

    #[test]
    fn errors() {
        let k = kernel();
        let e = build_uki(b"not a pe", &k, b"", "", "").unwrap_err();
        assert!(matches!(e, UkiError::NotPe(_)), "{e}");
        let mut pe32 = mini(8);
        wr16(&mut pe32, 0x40 + 24, 0x10b);
        let e = build_uki(&pe32, &k, b"", "", "").unwrap_err();
        assert!(matches!(e, UkiError::NotPe32Plus(0x10b)), "{e}");
        assert!(e.to_string().contains("not PE32+"));
        // SizeOfHeaders 0x1c0 rounds up to 0x200: room for three more
        // headers, but .osrel .cmdline .uname .linux need four.
        let e = build_uki(&mini(2), &k, b"", "x", "y").unwrap_err();
        match &e {
            UkiError::NoHeaderRoom { section, .. } => assert_eq!(section, ".linux"),
            e => panic!("{e}"),
        }
        assert!(e.to_string().contains("no room"), "{e}");
        let mut signed = mini(8);
        wr32(&mut signed, 0x40 + 24 + 112 + 32, 0x800);
        assert!(matches!(
            build_uki(&signed, &k, b"", "", ""),
            Err(UkiError::Signed)
        ));
        let mut truncated = stub();
        truncated.truncate(0x100);
        assert!(build_uki(&truncated, &k, b"", "", "").is_err());
    }

    #[test]
    fn kernel_version_scrape() {
        assert_eq!(kernel_version(&kernel()).as_deref(), Some(UNAME));
        assert_eq!(kernel_version(b"nothing"), None);
        let parts = UkiParts {
            kernel: &kernel(),
            initrd: b"",
            cmdline: "",
            os_release: "",
            uname: Some(""),
        };
        let uki = build_uki_parts(&mini(8), &parts).unwrap();
        assert_eq!(sections(&uki).len(), 2, ".text and .linux only");
    }
}
