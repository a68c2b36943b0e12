use std::io::Cursor;

use super::*;

const CLOSERS: [&str; 4] = ["client", "server", "both", "reset"];

fn stacked_bars() -> Chart {
    let categories: Vec<String> = [
        "10.0.0.5:80",
        "10.0.0.6:8080",
        "[2001:db8::1]:8080",
        "192.168.100.200:443",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let series = CLOSERS
        .iter()
        .enumerate()
        .map(|(j, name)| Series {
            name: name.to_string(),
            values: (0..categories.len())
                .map(|i| ((i + 1) * (j + 2) * 7 % 23) as f64)
                .collect(),
        })
        .collect();
    Chart {
        title: "Active closes per endpoint — nginx-default-upstream.pcap".into(),
        x_label: "endpoint (server ip:port)".into(),
        y_label: "active closes (connections)".into(),
        kind: ChartKind::Bars {
            categories,
            series,
            stacked: true,
        },
        width: 900,
        height: 500,
    }
}

fn lines() -> Chart {
    let series = ["10.0.0.5", "10.0.0.6", "[2001:db8::1]"]
        .iter()
        .enumerate()
        .map(|(j, name)| LineSeries {
            name: name.to_string(),
            points: (0..=120)
                .map(|t| {
                    let t = f64::from(t);
                    let ramp = (t * (j as f64 + 1.0) * 0.8).min(60.0 + 20.0 * j as f64);
                    (t, (ramp + (t * 0.3).sin() * 4.0).max(0.0).round())
                })
                .collect(),
        })
        .collect();
    Chart {
        title: "TIME-WAIT sockets per host — nginx-default-upstream.pcap".into(),
        x_label: "time since capture start (s)".into(),
        y_label: "sockets in TIME-WAIT".into(),
        kind: ChartKind::Lines { series },
        width: 900,
        height: 500,
    }
}

fn bars(categories: &[&str], series: Vec<Series>, stacked: bool) -> Chart {
    Chart {
        title: "t".into(),
        x_label: "x (unit)".into(),
        y_label: "y (unit)".into(),
        kind: ChartKind::Bars {
            categories: categories.iter().map(|s| s.to_string()).collect(),
            series,
            stacked,
        },
        width: 900,
        height: 500,
    }
}

fn series(name: &str, values: &[f64]) -> Series {
    Series {
        name: name.into(),
        values: values.to_vec(),
    }
}

fn decode_png(bytes: &[u8]) -> (u32, u32, png::ColorType) {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header decodes");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("png frame decodes");
    (info.width, info.height, info.color_type)
}

#[test]
fn svg_shows_title_axis_labels_categories_and_legend() {
    let svg = render_svg(&stacked_bars()).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
    for text in [
        "Active closes per endpoint — nginx-default-upstream.pcap",
        "endpoint (server ip:port)",
        "active closes (connections)",
        "10.0.0.5:80",
        "[2001:db8::1]:8080",
        "192.168.100.200:443",
        "client",
        "server",
        "both",
        "reset",
    ] {
        assert!(svg.contains(text), "missing {text:?}");
    }
    assert!(svg.contains("font-family=\"sans-serif\""));
}

#[test]
fn svg_of_lines_shows_axis_labels_and_legend() {
    let svg = render_svg(&lines()).unwrap();
    for text in [
        "TIME-WAIT sockets per host — nginx-default-upstream.pcap",
        "time since capture start (s)",
        "sockets in TIME-WAIT",
        "10.0.0.5",
        "10.0.0.6",
        "[2001:db8::1]",
    ] {
        assert!(svg.contains(text), "missing {text:?}");
    }
    assert!(!svg.contains("no data"));
}

#[test]
fn one_series_has_no_legend() {
    let chart = bars(&["a", "b"], vec![series("only-series", &[1.0, 2.0])], false);
    let svg = render_svg(&chart).unwrap();
    assert!(!svg.contains("only-series"));
}

#[test]
fn svg_escapes_packet_text() {
    let evil = "<script>&\"x\"";
    let mut chart = bars(
        &[evil, "ok"],
        vec![series(evil, &[1.0, 2.0]), series("b'", &[3.0, 4.0])],
        false,
    );
    chart.title = format!("closes — {evil}");
    chart.x_label = evil.into();
    let svg = render_svg(&chart).unwrap();
    assert!(svg.contains("&lt;script&gt;&amp;&quot;x&quot;"), "{svg}");
    assert!(svg.contains("b&apos;"));
    assert!(!svg.contains("<script"));
    assert!(!svg.contains("&\""));
}

#[test]
fn svg_replaces_control_characters() {
    let chart = bars(&["a\u{0}b\u{1b}[31m"], vec![series("s", &[1.0])], false);
    let svg = render_svg(&chart).unwrap();
    assert!(svg.contains("a\u{FFFD}b\u{FFFD}[31m"));
    assert!(!svg.chars().any(|c| c.is_control() && c != '\n'));
}

#[test]
fn long_category_labels_are_shortened_in_the_middle() {
    let cats: Vec<String> = (0..12)
        .map(|i| format!("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:{i:04x}]:8080"))
        .collect();
    let refs: Vec<&str> = cats.iter().map(String::as_str).collect();
    let chart = bars(&refs, vec![series("s", &[5.0; 12])], false);
    let svg = render_svg(&chart).unwrap();
    // Turned labels keep both ends: the address start and the port.
    assert!(svg.contains("rotate(270"));
    let shortened = svg
        .lines()
        .filter(|l| l.contains('…') && l.ends_with(":8080"))
        .count();
    assert_eq!(shortened, 12, "{svg}");
}

#[test]
fn png_is_an_rgb_image_of_the_requested_size() {
    for chart in [stacked_bars(), lines()] {
        let bytes = render_png(&chart).unwrap();
        assert!(bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]));
        assert_eq!(decode_png(&bytes), (900, 500, png::ColorType::Rgb));
    }
    let mut small = stacked_bars();
    small.width = 320;
    small.height = 200;
    let bytes = render_png(&small).unwrap();
    assert_eq!(decode_png(&bytes), (320, 200, png::ColorType::Rgb));
}

#[test]
fn output_is_byte_identical_across_runs() {
    for chart in [stacked_bars(), lines()] {
        assert_eq!(render_svg(&chart).unwrap(), render_svg(&chart).unwrap());
        assert_eq!(render_png(&chart).unwrap(), render_png(&chart).unwrap());
    }
}

#[test]
fn empty_charts_render_a_no_data_note() {
    let empty_bars = bars(&[], vec![], true);
    let no_series = bars(&["a", "b"], vec![], false);
    let mut empty_lines = lines();
    empty_lines.kind = ChartKind::Lines {
        series: vec![LineSeries {
            name: "x".into(),
            points: vec![],
        }],
    };
    let mut no_lines = lines();
    no_lines.kind = ChartKind::Lines { series: vec![] };
    for chart in [empty_bars, no_series, empty_lines, no_lines] {
        let svg = render_svg(&chart).unwrap();
        assert!(svg.contains("no data"), "{chart:?}");
        assert!(svg.contains("x (unit)") || svg.contains("time since capture start (s)"));
        let png = render_png(&chart).unwrap();
        assert_eq!(decode_png(&png).0, chart.width);
    }
}

#[test]
fn odd_values_do_not_fail() {
    let chart = bars(
        &["a", "b", "c"],
        vec![
            series("nan", &[f64::NAN, f64::INFINITY, -3.0]),
            series("short", &[1.0]),
        ],
        true,
    );
    render_svg(&chart).unwrap();
    render_png(&chart).unwrap();
    let mut line = lines();
    line.kind = ChartKind::Lines {
        series: vec![LineSeries {
            name: "one point".into(),
            points: vec![(5.0, 2.0), (f64::NAN, 1.0)],
        }],
    };
    render_svg(&line).unwrap();
    render_png(&line).unwrap();
}

#[test]
fn bad_sizes_are_errors() {
    for (w, h) in [(0, 500), (900, 0), (MAX_SIDE + 1, 10)] {
        let mut chart = stacked_bars();
        chart.width = w;
        chart.height = h;
        assert!(matches!(
            render_svg(&chart),
            Err(ChartError::InvalidSize { .. })
        ));
        assert!(matches!(
            render_png(&chart),
            Err(ChartError::InvalidSize { .. })
        ));
    }
}

#[test]
fn top_n_keeps_the_largest_in_order_and_sums_the_rest() {
    let cats = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    let s = vec![
        series("x", &[1.0, 10.0, 2.0, 8.0, 3.0]),
        series("y", &[0.0, 1.0, 5.0, 0.0, 1.0]),
    ];
    // Totals: a 1, b 11, c 7, d 8, e 4.
    let (c, s) = top_n_with_other(cats, s, 3);
    assert_eq!(c, ["b", "c", "d", "other"]);
    assert_eq!(s[0].values, [10.0, 2.0, 8.0, 4.0]);
    assert_eq!(s[1].values, [1.0, 5.0, 0.0, 1.0]);
    assert_eq!((s[0].name.as_str(), s[1].name.as_str()), ("x", "y"));
}

#[test]
fn top_n_leaves_few_categories_alone() {
    let cats = ["a", "b"].map(String::from).to_vec();
    let s = vec![series("x", &[1.0, 2.0])];
    let (c, out) = top_n_with_other(cats.clone(), s.clone(), 2);
    assert_eq!((c, out), (cats, s));
}

#[test]
fn top_n_breaks_ties_by_order_and_pads_short_series() {
    let cats = ["a", "b", "c", "d"].map(String::from).to_vec();
    let s = vec![series("x", &[2.0, 2.0, 2.0])];
    let (c, s) = top_n_with_other(cats, s, 2);
    assert_eq!(c, ["a", "b", "other"]);
    assert_eq!(s[0].values, [2.0, 2.0, 2.0]);

    let (c, s) = top_n_with_other(["a", "b"].map(String::from).to_vec(), vec![], 0);
    assert_eq!(c, ["other"]);
    assert!(s.is_empty());
}
