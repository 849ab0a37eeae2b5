//! The top-level JSON scanner every request goes through first: on any bytes it must not panic,
//! and what it accepts it must give back byte for byte when nothing is edited (the proxy
//! forwards the client's bytes, so a scanner that lost or moved one would change the request).
//! The byte walk (`scan`) finds exactly what `parse` finds on what `parse` accepts, and accepts
//! more only where `parse` refuses the syntax inside a value (which the shape check refuses).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::json::{ObjectScanError, TopLevelObject};

const APPENDED: &str = "\u{1}fuzz appended";

fuzz_target!(|data: &[u8]| {
    let scanned = TopLevelObject::scan(data);
    let Ok(object) = TopLevelObject::parse(data) else {
        if let (Ok(_), Err(e)) = (&scanned, TopLevelObject::parse(data)) {
            assert!(matches!(e, ObjectScanError::Syntax(_)), "{e:?}");
        }
        return;
    };
    let scanned = scanned.expect("scan accepts what parse accepts");
    assert_eq!(scanned.fields(), object.fields());
    assert_eq!(object.rewrite(&mut [], &[]), data);
    let mut same: Vec<_> = object
        .fields()
        .iter()
        .map(|f| (f.span.clone(), f.value.as_bytes().to_vec()))
        .collect();
    assert_eq!(object.rewrite(&mut same, &[]), data);
    for field in object.fields() {
        let found = object.get(&field.key).expect("a scanned key is found");
        assert_eq!(found.span, field.span);
        assert_eq!(&data[field.span.clone()], field.value.as_bytes());
        assert_eq!(
            object.splice(field.span.clone(), b"null").len(),
            data.len() - field.span.len() + 4
        );
    }
    // An appended field keeps the object valid and is found again.
    if object.get(APPENDED).is_none() && object.fields().len() < 256 {
        let appended = object.rewrite(&mut [], &[(APPENDED, b"[1,\"x\"]")]);
        let again = TopLevelObject::parse(&appended).expect("appending keeps the object valid");
        assert_eq!(again.get(APPENDED).map(|f| f.value), Some("[1,\"x\"]"));
        assert_eq!(again.fields().len(), object.fields().len() + 1);
    }
});
