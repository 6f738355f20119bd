//! The client protocol's hot path: encoding the frames a server fans out,
//! decoding what clients send, the shape check every body passes first, and
//! splitting a read buffer into frames.
//!
//! `cargo bench --bench codec`

use bytes::BytesMut;
use chatty::protocol::skim::check_shape;
use chatty::protocol::{
    decode, decode_client, encode_frame, ClientMsg, FrameDecoder, MessageId, ServerId, ServerMsg,
    MAX_CLIENT_FRAME,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use tokio_util::codec::Decoder;

fn text(size: usize) -> String {
    "x".repeat(size)
}

fn message(size: usize) -> ServerMsg {
    ServerMsg::Message {
        id: MessageId {
            origin: ServerId::from_bytes([7; 16]),
            seq: 123_456,
        },
        from: "alice".into(),
        text: text(size),
        action: false,
        room: "#lobby".into(),
        cid: None,
    }
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for size in [64, 512] {
        let msg = message(size);
        group.bench_function(format!("encode message {size} B"), |b| {
            b.iter(|| encode_frame(black_box(&msg)))
        });
        let send = ClientMsg::Send {
            text: text(size),
            cid: None,
            action: false,
            room: None,
        };
        group.bench_function(format!("encode send {size} B"), |b| {
            b.iter(|| encode_frame(black_box(&send)))
        });
        let send_frame = encode_frame(&send);
        group.bench_function(format!("decode send {size} B (serde)"), |b| {
            b.iter(|| decode::<ClientMsg>(black_box(&send_frame[4..])).unwrap())
        });
        group.bench_function(format!("decode_client send {size} B (server path)"), |b| {
            b.iter(|| decode_client(black_box(&send_frame[4..])).unwrap())
        });
        let msg_frame = encode_frame(&msg);
        group.bench_function(format!("decode message {size} B"), |b| {
            b.iter(|| decode::<ServerMsg>(black_box(&msg_frame[4..])).unwrap())
        });
        group.bench_function(format!("skim check {size} B"), |b| {
            b.iter(|| check_shape(black_box(&msg_frame[4..]), 16).unwrap())
        });
    }
    // A publisher's batch: 64 `send` frames of 64 B in one read.
    let frame = encode_frame(&ClientMsg::Send {
        text: text(64),
        cid: None,
        action: false,
        room: None,
    });
    let batch: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 64)
        .collect();
    group.throughput(Throughput::Elements(64));
    group.bench_function("split 64 send frames", |b| {
        b.iter_batched(
            || BytesMut::from(&batch[..]),
            |mut buf| {
                let mut decoder = FrameDecoder::new(MAX_CLIENT_FRAME);
                let mut n = 0;
                while let Some(body) = decoder.decode(&mut buf).unwrap() {
                    black_box(&body);
                    n += 1;
                }
                assert_eq!(n, 64);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
