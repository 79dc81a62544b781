//! Prototype benchmark: read a fixed sequence of object ids (commits and trees,
//! with repeats) through libgit2 (git2 0.21) and through gitoxide's object
//! database (gix-odb / gix-pack) with various pack (delta-base) caches.
//!
//! Usage: object-reads <repo-path> <id-file> <mode>
//!   mode = git2            Repository::open(path)?.odb()?.read(oid)
//!        | git2-nohash     same, with git2::opts::strict_hash_verification(false) (extra, not what the tool does)
//!        | gix-lru:<MB>    gix_odb handle + gix_pack::cache::lru::MemoryCappedHashmap::new(MB << 20), no object cache
//!        | gix-static      gix_odb handle + gix_pack::cache::lru::StaticLinkedList::<64>::default() (gix's default)
//!        | gix-none        gix_odb handle without any pack cache
//!        | verify[:<n>]    compare kind + bytes of git2 vs gix for n (default 1000) sampled ids
//!        | verify-all      compare kind + bytes for every id in the file
//!
//! Prints elapsed wall time for the read loop (ids are parsed before timing;
//! opening the repository/odb is timed separately and included in `total`).

use std::time::Instant;

use gix_object::Find as _;

fn load_ids(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read id file")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn objects_dir(repo: &str) -> std::path::PathBuf {
    // Same lookup git2 does for a non-bare clone; fall back to a bare layout.
    let p = std::path::Path::new(repo);
    let dotgit = p.join(".git").join("objects");
    if dotgit.is_dir() { dotgit } else { p.join("objects") }
}

fn git2_kind(t: git2::ObjectType) -> &'static str {
    match t {
        git2::ObjectType::Commit => "commit",
        git2::ObjectType::Tree => "tree",
        git2::ObjectType::Blob => "blob",
        git2::ObjectType::Tag => "tag",
        _ => "other",
    }
}

fn gix_kind(k: gix_object::Kind) -> &'static str {
    match k {
        gix_object::Kind::Commit => "commit",
        gix_object::Kind::Tree => "tree",
        gix_object::Kind::Blob => "blob",
        gix_object::Kind::Tag => "tag",
    }
}

/// Diagnostic wrapper (only used when OBJECT_READS_STATS is set): counts cache traffic.
struct Counting<C> {
    inner: C,
    gets: u64,
    hits: u64,
    puts: u64,
    put_bytes: u64,
}

impl<C: gix_pack::cache::DecodeEntry> gix_pack::cache::DecodeEntry for Counting<C> {
    fn put(&mut self, pack_id: u32, offset: u64, data: &[u8], kind: gix_object::Kind, compressed_size: usize) {
        self.puts += 1;
        self.put_bytes += data.len() as u64;
        self.inner.put(pack_id, offset, data, kind, compressed_size)
    }
    fn get(&mut self, pack_id: u32, offset: u64, out: &mut Vec<u8>) -> Option<(gix_object::Kind, usize)> {
        self.gets += 1;
        let r = self.inner.get(pack_id, offset, out);
        if r.is_some() {
            self.hits += 1;
        }
        r
    }
}

impl<C> Drop for Counting<C> {
    fn drop(&mut self) {
        eprintln!(
            "pack-cache stats: gets={} hits={} misses={} puts={} put_bytes={}",
            self.gets,
            self.hits,
            self.gets - self.hits,
            self.puts,
            self.put_bytes
        );
    }
}

fn boxed<C: gix_pack::cache::DecodeEntry + Send + 'static>(c: C) -> Box<gix_odb::cache::PackCache> {
    if std::env::var_os("OBJECT_READS_STATS").is_some() {
        Box::new(Counting { inner: c, gets: 0, hits: 0, puts: 0, put_bytes: 0 })
    } else {
        Box::new(c)
    }
}

fn open_gix(repo: &str, mode: &str) -> gix_odb::Handle {
    let mut handle = gix_odb::at(objects_dir(repo), gix_hash::Kind::Sha1).expect("open gix odb");
    // No object cache in any mode (gix_odb::at() sets none; make it explicit).
    handle.unset_object_cache();
    if let Some(mb) = mode.strip_prefix("gix-lru:") {
        let bytes: usize = mb.parse::<usize>().expect("MB") * 1024 * 1024;
        handle.set_pack_cache(move || -> Box<gix_odb::cache::PackCache> {
            boxed(gix_pack::cache::lru::MemoryCappedHashmap::new(bytes))
        });
    } else if mode == "gix-static" {
        // What gix::Repository uses when core.deltaBaseCacheLimit is unset:
        // 64 entries, 96 MiB memory limit.
        handle.set_pack_cache(|| boxed(gix_pack::cache::lru::StaticLinkedList::<64>::default()));
    } else if mode == "gix-none" {
        handle.unset_pack_cache();
    } else {
        panic!("unknown mode {mode}");
    }
    handle
}

fn run_git2(repo: &str, ids: &[String], verify_hash: bool) -> (u64, u64, f64, f64) {
    // libgit2 default: strict hash verification ON (every object read is re-hashed with SHA1DC).
    git2::opts::strict_hash_verification(verify_hash);
    let oids: Vec<git2::Oid> = ids.iter().map(|s| git2::Oid::from_str(s).expect("oid")).collect();
    let t0 = Instant::now();
    let repository = git2::Repository::open(repo).expect("open repo");
    let odb = repository.odb().expect("odb");
    let open_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut total_len = 0u64;
    let mut touch = 0u64;
    for oid in &oids {
        let obj = odb.read(*oid).expect("git2 read");
        let data = obj.data();
        total_len += data.len() as u64;
        if !data.is_empty() {
            touch = touch.wrapping_add(data[data.len() / 2] as u64);
        }
        touch = touch.wrapping_add(obj.kind() as u64);
    }
    (total_len, touch, open_ms, t0.elapsed().as_secs_f64() * 1e3 - open_ms)
}

fn run_gix(repo: &str, ids: &[String], mode: &str) -> (u64, u64, f64, f64) {
    let oids: Vec<gix_hash::ObjectId> =
        ids.iter().map(|s| gix_hash::ObjectId::from_hex(s.as_bytes()).expect("oid")).collect();
    let t0 = Instant::now();
    let handle = open_gix(repo, mode);
    let open_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut buf: Vec<u8> = Vec::new();
    let mut total_len = 0u64;
    let mut touch = 0u64;
    for oid in &oids {
        let obj = handle.try_find(oid, &mut buf).expect("gix read").expect("object missing");
        let data = obj.data;
        total_len += data.len() as u64;
        if !data.is_empty() {
            touch = touch.wrapping_add(data[data.len() / 2] as u64);
        }
        touch = touch.wrapping_add(obj.kind as u64);
    }
    (total_len, touch, open_ms, t0.elapsed().as_secs_f64() * 1e3 - open_ms)
}

fn verify(repo: &str, ids: &[String], n: Option<usize>) {
    // Deterministic sample: an LCG over the whole list (with replacement), or all ids.
    let sample: Vec<&String> = match n {
        None => ids.iter().collect(),
        Some(n) => {
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    &ids[((x >> 33) as usize) % ids.len()]
                })
                .collect()
        }
    };
    let repository = git2::Repository::open(repo).expect("open repo");
    let odb = repository.odb().expect("odb");
    let handle = open_gix(repo, "gix-lru:96");
    let mut buf = Vec::new();
    let (mut ok, mut bad, mut bytes) = (0usize, 0usize, 0u64);
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for s in sample {
        let a = odb.read(git2::Oid::from_str(s).unwrap()).expect("git2 read");
        let b = handle
            .try_find(&gix_hash::ObjectId::from_hex(s.as_bytes()).unwrap(), &mut buf)
            .expect("gix read")
            .expect("gix missing");
        let (ka, kb) = (git2_kind(a.kind()), gix_kind(b.kind));
        if ka == kb && a.data() == b.data {
            ok += 1;
            bytes += b.data.len() as u64;
            *kinds.entry(ka).or_default() += 1;
        } else {
            bad += 1;
            eprintln!("MISMATCH {s}: git2 {ka} {}B vs gix {kb} {}B", a.data().len(), b.data.len());
        }
    }
    println!("verify: {ok} identical, {bad} mismatched, {bytes} bytes compared, kinds {kinds:?}");
    if bad > 0 {
        std::process::exit(1);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} <repo> <id-file> <git2|git2-nohash|gix-lru:MB|gix-static|gix-none|verify[:N]|verify-all>", args[0]);
        std::process::exit(2);
    }
    let (repo, id_file, mode) = (&args[1], &args[2], args[3].as_str());
    let ids = load_ids(id_file);
    if mode == "verify-all" {
        return verify(repo, &ids, None);
    }
    if let Some(rest) = mode.strip_prefix("verify") {
        let n = rest.strip_prefix(':').map(|v| v.parse().expect("N")).unwrap_or(1000);
        return verify(repo, &ids, Some(n));
    }
    let (total_len, touch, open_ms, read_ms) =
        if mode == "git2" {
            run_git2(repo, &ids, true)
        } else if mode == "git2-nohash" {
            run_git2(repo, &ids, false)
        } else { run_gix(repo, &ids, mode) };
    println!(
        "mode={mode} reads={} bytes={total_len} touch={touch} open_ms={open_ms:.1} read_ms={read_ms:.1} total_ms={:.1}",
        ids.len(),
        open_ms + read_ms
    );
}
