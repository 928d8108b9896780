//! Layout of a FAT image ([`super`]): the geometry (FAT type, cluster
//! size, FAT size, data region alignment), the plan of every directory, the
//! depth-first contiguous cluster allocation, and the rendering of the
//! reserved sectors, FATs and directories into segments.

use super::dir::{
    ATTR_DIRECTORY, ATTR_VOLUME_ID, DirName, dos_time, plan_names, push_named, push_short,
};
use super::{Bytes, FatBuilder, FatError, FatImage, FatOptions, FatType, FileData, Node};
use crate::Shared;
use std::collections::BTreeMap;

const SECTOR: u64 = 512;
const MIB: u64 = 1 << 20;

/// The volume geometry: all counts in sectors except `clusters`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    fat_type: FatType,
    sectors: u64,
    spc: u64,
    reserved: u64,
    fat_sectors: u64,
    root_entries: u64,
    clusters: u64,
}

impl Geometry {
    fn data_start(&self) -> u64 {
        self.reserved + 2 * self.fat_sectors + self.root_entries * 32 / SECTOR
    }
    fn cluster_bytes(&self) -> u64 {
        self.spc * SECTOR
    }
    fn cluster_offset(&self, c: u32) -> u64 {
        (self.data_start() + (u64::from(c) - 2) * self.spc) * SECTOR
    }
}

fn fat_sectors_for(clusters: u64, bits: u64) -> u64 {
    ((clusters + 2) * bits).div_ceil(8).div_ceil(SECTOR)
}

fn default_spc(t: FatType, sectors: u64) -> u64 {
    let table: &[(u64, u64)] = match t {
        FatType::Fat12 => &[(u64::MAX, 1)],
        FatType::Fat16 => &[
            (32_680, 2),
            (262_144, 4),
            (524_288, 8),
            (1_048_576, 16),
            (2_097_152, 32),
            (4_194_304, 64),
            (u64::MAX, 128),
        ],
        FatType::Fat32 => &[
            (532_480, 1),
            (16_777_216, 8),
            (33_554_432, 16),
            (67_108_864, 32),
            (u64::MAX, 64),
        ],
    };
    table
        .iter()
        .find(|(max, _)| sectors <= *max)
        .map_or(64, |e| e.1)
}

fn geometry_for(
    t: FatType,
    sectors: u64,
    spc: u64,
    opts: &FatOptions,
    root_slots: u64,
) -> Option<Geometry> {
    let fat32 = t == FatType::Fat32;
    let root_entries = if fat32 {
        0
    } else {
        root_slots.max(512).next_multiple_of(16)
    };
    if root_entries > 0xFFFF {
        return None;
    }
    let root_secs = root_entries * 32 / SECTOR;
    let min_reserved = if fat32 { 32 } else { 1 };
    let reserved0 = opts.reserved_sectors.map_or(min_reserved, u64::from);
    let avail = sectors.checked_sub(reserved0 + root_secs)?;
    let clusters_with = |f: u64| avail.saturating_sub(2 * f) / spc;
    // smallest FAT that covers the clusters it leaves room for
    let (mut lo, mut hi) = (1, fat_sectors_for(avail / spc, t.bits()).max(1));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fat_sectors_for(clusters_with(mid), t.bits()) <= mid {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let mut fat_sectors = lo;
    // align the data region to a cluster: grow the FATs, and the reserved
    // area when it is not fixed
    let reserved_choices = if opts.reserved_sectors.is_some() {
        1
    } else {
        spc
    };
    let mut reserved = reserved0;
    'align: for r in reserved0..reserved0 + reserved_choices {
        for pad in 0..spc {
            if (r + 2 * (lo + pad) + root_secs).is_multiple_of(spc) {
                reserved = r;
                fat_sectors = lo + pad;
                break 'align;
            }
        }
    }
    let data_start = reserved + 2 * fat_sectors + root_secs;
    let clusters = sectors.checked_sub(data_start)? / spc;
    let fat16_len_ok = fat32 || fat_sectors <= 0xFFFF;
    (t.clusters().contains(&clusters) && fat16_len_ok).then_some(Geometry {
        fat_type: t,
        sectors,
        spc,
        reserved,
        fat_sectors,
        root_entries,
        clusters,
    })
}

fn geometry(sectors: u64, opts: &FatOptions, root_slots: u64) -> Result<Geometry, FatError> {
    if sectors > u64::from(u32::MAX) {
        return Err(FatError::Geometry(format!("{sectors} sectors exceed 2^32")));
    }
    let types = match opts.fat_type {
        Some(t) => vec![t],
        None if sectors <= 8400 => vec![FatType::Fat12, FatType::Fat16, FatType::Fat32],
        None if sectors <= 1_048_576 => vec![FatType::Fat16, FatType::Fat12, FatType::Fat32],
        None => vec![FatType::Fat32, FatType::Fat16, FatType::Fat12],
    };
    for t in types {
        // FAT32 keeps its FSInfo (1) and backups (6, 7) in the reserved area
        let min_reserved = if t == FatType::Fat32 { 8 } else { 1 };
        if opts
            .reserved_sectors
            .is_some_and(|r| u64::from(r) < min_reserved)
        {
            if opts.fat_type.is_some() {
                return Err(FatError::Geometry(format!(
                    "{t:?} needs at least {min_reserved} reserved sectors"
                )));
            }
            continue;
        }
        let spcs: Vec<u64> = match opts.sectors_per_cluster {
            Some(s) if s.is_power_of_two() => vec![u64::from(s)],
            Some(s) => {
                return Err(FatError::Geometry(format!(
                    "{s} sectors per cluster is not a power of two"
                )));
            }
            None => {
                let d = default_spc(t, sectors);
                let up = (0..8).map(|i| d << i).filter(|s| *s <= 128);
                let down = (1..8).map(|i| d >> i).filter(|s| *s >= 1);
                up.chain(down).collect()
            }
        };
        if let Some(g) = spcs
            .into_iter()
            .find_map(|spc| geometry_for(t, sectors, spc, opts, root_slots))
        {
            return Ok(g);
        }
    }
    Err(FatError::Geometry(format!(
        "{} bytes with {:?}, {:?} sectors per cluster",
        sectors * SECTOR,
        opts.fat_type,
        opts.sectors_per_cluster
    )))
}

/// One directory of the plan, in depth-first order (index 0 is the root).
struct PDir<'a> {
    parent: usize,
    children: Vec<PChild<'a>>,
    slots: u64,
    cluster: u32,
    clusters: u64,
}

struct PChild<'a> {
    name: DirName,
    path: String,
    node: PNode<'a>,
}

enum PNode<'a> {
    File {
        data: &'a FileData,
        attr: u8,
        cluster: u32,
    },
    Dir(usize),
}

fn plan<'a>(
    map: &'a BTreeMap<String, Node>,
    prefix: &str,
    parent: usize,
    dirs: &mut Vec<PDir<'a>>,
) -> Result<usize, FatError> {
    let idx = dirs.len();
    dirs.push(PDir {
        parent,
        children: Vec::new(),
        slots: 0,
        cluster: 0,
        clusters: 0,
    });
    let mut upper: Vec<(String, &str)> =
        map.keys().map(|k| (k.to_uppercase(), k.as_str())).collect();
    upper.sort();
    if let Some(w) = upper.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(FatError::Duplicate(format!("{prefix}{}", w[1].1)));
    }
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    let names = plan_names(&keys)?;
    let mut children = Vec::new();
    let mut slots = if idx == 0 { 1 } else { 2 }; // label, or "." and ".."
    for ((key, node), name) in map.iter().zip(names) {
        slots += name.slots() as u64;
        let path = format!("{prefix}{key}");
        let node = match node {
            Node::File { data, attr } => PNode::File {
                data,
                attr: *attr,
                cluster: 0,
            },
            Node::Dir(sub) => PNode::Dir(plan(sub, &format!("{path}/"), idx, dirs)?),
        };
        children.push(PChild { name, path, node });
    }
    dirs[idx].children = children;
    dirs[idx].slots = slots;
    Ok(idx)
}

/// Clusters needed for the plan at a given cluster size.
fn clusters_needed(dirs: &[PDir], fat32: bool, cb: u64) -> u64 {
    let dir_clusters: u64 = dirs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i > 0 || fat32)
        .map(|(_, d)| (d.slots * 32).div_ceil(cb).max(1))
        .sum();
    let file_clusters: u64 = dirs
        .iter()
        .flat_map(|d| &d.children)
        .map(|c| match &c.node {
            PNode::File { data, .. } => (data.len() as u64).div_ceil(cb),
            PNode::Dir(_) => 0,
        })
        .sum();
    dir_clusters + file_clusters
}

fn label_bytes(label: &str) -> Result<Option<[u8; 11]>, FatError> {
    if label.is_empty() {
        return Ok(None);
    }
    let ok = label.len() <= 11
        && !label.starts_with(' ')
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " !#$%&'()-@^_`{}~".contains(c));
    if !ok {
        return Err(FatError::InvalidLabel(label.into()));
    }
    let mut l = [b' '; 11];
    l[..label.len()].copy_from_slice(label.to_ascii_uppercase().as_bytes());
    Ok(Some(l))
}

/// Allocate clusters depth-first: a directory, then its children in order.
fn allocate(dirs: &mut [PDir], idx: usize, fat32: bool, cb: u64, next: &mut u32) {
    if idx > 0 || fat32 {
        dirs[idx].clusters = (dirs[idx].slots * 32).div_ceil(cb).max(1);
        dirs[idx].cluster = *next;
        *next += dirs[idx].clusters as u32;
    }
    for i in 0..dirs[idx].children.len() {
        match &mut dirs[idx].children[i].node {
            PNode::File { data, cluster, .. } => {
                let n = (data.len() as u64).div_ceil(cb) as u32;
                if n > 0 {
                    *cluster = *next;
                    *next += n;
                }
            }
            PNode::Dir(sub) => {
                let sub = *sub;
                allocate(dirs, sub, fat32, cb, next);
            }
        }
    }
}

pub(super) fn layout(b: &FatBuilder, opts: &FatOptions) -> Result<FatImage, FatError> {
    let label = label_bytes(&opts.label)?;
    let mut dirs = Vec::new();
    plan(&b.root, "", 0, &mut dirs)?;
    let root_slots = dirs[0].slots;
    let fits = |g: &Geometry| {
        let need = clusters_needed(&dirs, g.fat_type == FatType::Fat32, g.cluster_bytes());
        (need <= g.clusters, need)
    };
    let g = match opts.size_bytes {
        Some(size) => {
            if size % SECTOR != 0 {
                return Err(FatError::Geometry(format!(
                    "size {size} is not a multiple of 512"
                )));
            }
            let g = geometry(size / SECTOR, opts, root_slots)?;
            let (ok, need) = fits(&g);
            if !ok {
                return Err(FatError::TooSmall {
                    size,
                    needed: (need - g.clusters) * g.cluster_bytes(),
                });
            }
            g
        }
        None => {
            let data: u64 = dirs.iter().map(|d| d.slots * 32).sum::<u64>()
                + dirs
                    .iter()
                    .flat_map(|d| &d.children)
                    .map(|c| match &c.node {
                        PNode::File { data, .. } => data.len() as u64,
                        PNode::Dir(_) => 0,
                    })
                    .sum::<u64>();
            let mut size = (data + data / 20 + 256 * 1024).next_multiple_of(MIB);
            loop {
                if let Ok(g) = geometry(size / SECTOR, opts, root_slots) {
                    let (ok, need) = fits(&g);
                    if ok
                        && (g.clusters - need) * g.cluster_bytes()
                            >= (data / 20).min(g.clusters * g.cluster_bytes() / 20)
                    {
                        break g;
                    }
                }
                size += MIB;
                if size > (u64::from(u32::MAX) + 1) * SECTOR {
                    return Err(FatError::Geometry(format!(
                        "{data} bytes of contents do not fit any FAT volume"
                    )));
                }
            }
        }
    };
    Ok(render(g, &mut dirs, label, opts))
}

fn render(g: Geometry, dirs: &mut [PDir], label: Option<[u8; 11]>, opts: &FatOptions) -> FatImage {
    let fat32 = g.fat_type == FatType::Fat32;
    let cb = g.cluster_bytes();
    let mut next = 2u32;
    allocate(dirs, 0, fat32, cb, &mut next);
    let t = dos_time(opts.mtime);
    let mut segments: Vec<(u64, Bytes)> = Vec::new();
    let mut extents = BTreeMap::new();
    let mut chains: Vec<(u32, u32)> = Vec::new(); // (first, count)
    for (i, d) in dirs.iter().enumerate() {
        let mut out = Vec::with_capacity(d.slots as usize * 32);
        if i == 0 {
            if let Some(l) = label {
                push_short(&mut out, &l, 0, ATTR_VOLUME_ID, 0, 0, t);
            }
        } else {
            // ".." of a top-level directory points at cluster 0, even on FAT32
            let parent = if d.parent == 0 {
                0
            } else {
                dirs[d.parent].cluster
            };
            push_short(&mut out, b".          ", 0, ATTR_DIRECTORY, d.cluster, 0, t);
            push_short(&mut out, b"..         ", 0, ATTR_DIRECTORY, parent, 0, t);
        }
        for c in &d.children {
            match &c.node {
                PNode::File {
                    data,
                    attr,
                    cluster,
                } => {
                    let len = data.len() as u64;
                    push_named(&mut out, &c.name, *attr, *cluster, len as u32, t);
                    if len > 0 {
                        chains.push((*cluster, len.div_ceil(cb) as u32));
                        let base = g.cluster_offset(*cluster);
                        for (off, piece) in &data.pieces {
                            segments.push((base + off, Bytes::Shared(piece.clone())));
                        }
                        extents.insert(c.path.clone(), (g.cluster_offset(*cluster), len));
                    } else {
                        extents.insert(c.path.clone(), (0, 0));
                    }
                }
                PNode::Dir(s) => {
                    push_named(&mut out, &c.name, ATTR_DIRECTORY, dirs[*s].cluster, 0, t)
                }
            }
        }
        let off = if i == 0 && !fat32 {
            (g.reserved + 2 * g.fat_sectors) * SECTOR
        } else {
            chains.push((d.cluster, d.clusters as u32));
            g.cluster_offset(d.cluster)
        };
        if !out.is_empty() {
            segments.push((off, Bytes::Owned(out)));
        }
    }
    // the FAT (both copies share one buffer)
    let used = u64::from(next);
    let mut fat = vec![0u8; (used * g.fat_type.bits()).div_ceil(8) as usize];
    let mut set = |n: u32, v: u32| match g.fat_type {
        FatType::Fat12 => {
            let o = n as usize * 3 / 2;
            if n.is_multiple_of(2) {
                fat[o] = v as u8;
                fat[o + 1] = (fat[o + 1] & 0xF0) | ((v >> 8) as u8 & 0x0F);
            } else {
                fat[o] = (fat[o] & 0x0F) | ((v as u8) << 4);
                fat[o + 1] = (v >> 4) as u8;
            }
        }
        FatType::Fat16 => fat[n as usize * 2..][..2].copy_from_slice(&(v as u16).to_le_bytes()),
        FatType::Fat32 => fat[n as usize * 4..][..4].copy_from_slice(&v.to_le_bytes()),
    };
    let eoc = g.fat_type.eoc();
    set(0, eoc & !7);
    set(1, eoc);
    for (first, count) in chains {
        for k in 0..count {
            set(first + k, if k + 1 == count { eoc } else { first + k + 1 });
        }
    }
    let fat: Shared = Shared::from(fat);
    for copy in 0..2 {
        let off = (g.reserved + copy * g.fat_sectors) * SECTOR;
        segments.push((off, Bytes::Shared(fat.clone())));
    }
    let free = g.clusters + 2 - used;
    segments.push((0, Bytes::Owned(reserved_area(&g, label, opts, free, used))));
    segments.sort_by_key(|s| s.0);
    FatImage {
        size: g.sectors * SECTOR,
        fat_type: g.fat_type,
        cluster_bytes: cb,
        segments,
        extents,
    }
}

/// Boot sector, and on FAT32 the FSInfo sector and both backups.
fn reserved_area(
    g: &Geometry,
    label: Option<[u8; 11]>,
    opts: &FatOptions,
    free: u64,
    used: u64,
) -> Vec<u8> {
    let fat32 = g.fat_type == FatType::Fat32;
    let mut b = vec![0u8; if fat32 { 8 * 512 } else { 512 }];
    let put16 =
        |b: &mut [u8], o: usize, v: u64| b[o..o + 2].copy_from_slice(&(v as u16).to_le_bytes());
    let put32 =
        |b: &mut [u8], o: usize, v: u64| b[o..o + 4].copy_from_slice(&(v as u32).to_le_bytes());
    b[..3].copy_from_slice(if fat32 {
        &[0xEB, 0x58, 0x90]
    } else {
        &[0xEB, 0x3C, 0x90]
    });
    b[3..11].copy_from_slice(b"mkfs.fat");
    put16(&mut b, 11, SECTOR);
    b[13] = g.spc as u8;
    put16(&mut b, 14, g.reserved);
    b[16] = 2;
    put16(&mut b, 17, g.root_entries);
    if !fat32 && g.sectors < 0x10000 {
        put16(&mut b, 19, g.sectors);
    } else {
        put32(&mut b, 32, g.sectors);
    }
    b[21] = 0xF8;
    put16(&mut b, 24, 32); // sectors per track
    put16(&mut b, 26, 64); // heads
    put32(&mut b, 28, u64::from(opts.hidden_sectors));
    let ext = if fat32 {
        put32(&mut b, 36, g.fat_sectors);
        put32(&mut b, 44, 2); // root cluster
        put16(&mut b, 48, 1); // FSInfo sector
        put16(&mut b, 50, 6); // backup boot sector
        64
    } else {
        put16(&mut b, 22, g.fat_sectors);
        36
    };
    b[ext] = 0x80;
    b[ext + 2] = 0x29;
    put32(&mut b, ext + 3, u64::from(opts.volume_id));
    b[ext + 7..ext + 18].copy_from_slice(&label.unwrap_or(*b"NO NAME    "));
    b[ext + 18..ext + 26].copy_from_slice(match g.fat_type {
        FatType::Fat12 => b"FAT12   ",
        FatType::Fat16 => b"FAT16   ",
        FatType::Fat32 => b"FAT32   ",
    });
    // no boot loader: int 18h ("boot failed"), then halt
    b[ext + 26..ext + 32].copy_from_slice(&[0xCD, 0x18, 0xFA, 0xF4, 0xEB, 0xFD]);
    b[510] = 0x55;
    b[511] = 0xAA;
    if fat32 {
        let s = 512;
        b[s..s + 4].copy_from_slice(b"RRaA");
        b[s + 484..s + 488].copy_from_slice(b"rrAa");
        put32(&mut b, s + 488, free);
        let next_free = if free > 0 { used } else { u64::from(u32::MAX) };
        put32(&mut b, s + 492, next_free);
        b[s + 510] = 0x55;
        b[s + 511] = 0xAA;
        b.copy_within(0..1024, 6 * 512);
    }
    b
}
