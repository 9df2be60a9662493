//! Building an ONNX graph: named values, constant tensors (initializers), nodes and the
//! graph's typed inputs and outputs. Each node's outputs get fresh names, so a model is
//! written as a chain of calls that read like the equations they compute.

use super::proto::{
    attr_type, dtype, AttributeProto, DimValue, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto,
};

/// The operator set an exported model declares (ONNX 1.12, 2022).
pub const OPSET: i64 = 17;
/// The IR version that goes with [`OPSET`].
pub const IR_VERSION: i64 = 8;

/// One axis of a graph input or output: a size, or a name the runtime binds (`batch`, `time`).
#[derive(Clone, Debug)]
pub enum Dim {
    Fixed(usize),
    Named(&'static str),
    /// Neither (a subgraph's batch axis: a runtime binds it from the outer graph).
    Any,
}

/// An attribute of a node.
pub fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: attr_type::INT,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: ints.to_vec(),
        r#type: attr_type::INTS,
        ..Default::default()
    }
}

pub fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: attr_type::FLOAT,
        ..Default::default()
    }
}

pub fn attr_string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: s.as_bytes().to_vec(),
        r#type: attr_type::STRING,
        ..Default::default()
    }
}

pub fn attr_strings(name: &str, s: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        strings: s.iter().map(|x| x.as_bytes().to_vec()).collect(),
        r#type: attr_type::STRINGS,
        ..Default::default()
    }
}

pub fn attr_graph(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        g: Some(Box::new(g)),
        r#type: attr_type::GRAPH,
        ..Default::default()
    }
}

/// A graph under construction.
#[derive(Default)]
pub struct Graph {
    name: String,
    /// Put before every fresh name: a subgraph's names must differ from its parent's.
    prefix: String,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    next: usize,
}

fn value_info(name: &str, elem: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: match d {
                Dim::Fixed(n) => Some(DimValue::Value(*n as i64)),
                Dim::Named(s) => Some(DimValue::Param((*s).to_string())),
                Dim::Any => None,
            },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: elem,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: String::new(),
    }
}

impl Graph {
    pub fn new(name: &str) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// A subgraph (a `Scan` body) whose fresh names all start with `prefix`.
    pub fn sub(name: &str, prefix: &str) -> Self {
        Graph {
            name: name.into(),
            prefix: prefix.into(),
            ..Default::default()
        }
    }

    /// A name no other value of the graph has.
    pub fn fresh(&mut self, base: &str) -> String {
        self.next += 1;
        format!("{}{base}_{}", self.prefix, self.next)
    }

    /// A float32 constant under `name` (parameter names are kept, so a reader of the file
    /// finds `rnn.weight_ih_l0`'s values under a name like it).
    pub fn init_f32(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.inits.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: dtype::FLOAT,
            name: name.into(),
            raw_data: raw,
            ..Default::default()
        });
        name.to_string()
    }

    /// An int32 constant (1-D) under `name`.
    pub fn init_i32(&mut self, name: &str, data: &[i32]) -> String {
        self.inits.push(TensorProto {
            dims: vec![data.len() as i64],
            data_type: dtype::INT32,
            name: name.into(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    /// An int64 constant with a fresh name.
    pub fn const_i64(&mut self, dims: &[usize], data: &[i64]) -> String {
        let name = self.fresh("const");
        self.inits.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: dtype::INT64,
            name: name.clone(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// A 1-D int64 constant (shapes, axes, slice bounds).
    pub fn ints(&mut self, data: &[i64]) -> String {
        self.const_i64(&[data.len()], data)
    }

    /// A scalar int32 constant with a fresh name.
    pub fn scalar_i32(&mut self, v: i32) -> String {
        let name = self.fresh("scalar");
        self.inits.push(TensorProto {
            dims: vec![],
            data_type: dtype::INT32,
            name: name.clone(),
            raw_data: v.to_le_bytes().to_vec(),
            ..Default::default()
        });
        name
    }

    /// A scalar float32 constant with a fresh name.
    pub fn scalar_f32(&mut self, v: f32) -> String {
        let name = self.fresh("scalar");
        self.init_f32(&name, &[], &[v])
    }

    /// A node with one output; returns the output's (fresh) name. An empty input name
    /// leaves an optional input out.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.op_into(op, inputs, &[&out], attrs);
        out
    }

    /// A node with `n` outputs, freshly named.
    pub fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        n: usize,
        attrs: Vec<AttributeProto>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..n)
            .map(|_| self.fresh(&op.to_ascii_lowercase()))
            .collect();
        let refs: Vec<&str> = outs.iter().map(|s| s.as_str()).collect();
        self.op_into(op, inputs, &refs, attrs);
        outs
    }

    /// A node writing the outputs named (a graph output's name, say).
    pub fn op_into(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) {
        let name = self.fresh(op);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op.into(),
            attribute: attrs,
            domain: String::new(),
        });
    }

    /// `a` renamed to `name` (an Identity node: how a computed value becomes a graph output).
    pub fn rename(&mut self, a: &str, name: &str) {
        self.op_into("Identity", &[a], &[name], vec![]);
    }

    /// A graph input.
    pub fn input(&mut self, name: &str, elem: i32, dims: &[Dim]) -> String {
        self.inputs.push(value_info(name, elem, dims));
        name.to_string()
    }

    /// A graph output (some node must write `name`).
    pub fn output(&mut self, name: &str, elem: i32, dims: &[Dim]) {
        self.outputs.push(value_info(name, elem, dims));
    }

    /// The graph, for a subgraph attribute (a `Scan` body) or a model.
    pub fn into_graph(self) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: self.name,
            initializer: self.inits,
            doc_string: String::new(),
            input: self.inputs,
            output: self.outputs,
        }
    }

    /// The model: this graph at [`OPSET`], with `metadata` in `metadata_props`.
    pub fn into_model(self, doc: &str, metadata: &[(String, String)]) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            producer_name: "recurrent".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: doc.into(),
            graph: Some(self.into_graph()),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        }
    }
}

/// `w` [rows, cols] as [cols, rows] (ONNX's MatMul multiplies by W^T as it is stored).
pub fn transposed(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// The length of `x`'s axis `axis` at run time, as int64 [1] (time, batch).
pub fn axis_len(g: &mut Graph, x: &str, axis: usize) -> String {
    let shape = g.op("Shape", &[x], vec![]);
    let (lo, hi, ax) = (
        g.ints(&[axis as i64]),
        g.ints(&[axis as i64 + 1]),
        g.ints(&[0]),
    );
    g.op("Slice", &[&shape, &lo, &hi, &ax], vec![])
}

/// valid [T, B] (bool) = t < lens[b], T the length of `x`'s first axis, `lens` int32 [B].
/// The step index is int32 from end to end: a runtime may type a shape's int64 apart
/// (tract does), and `lengths` are int32 anyway.
pub fn valid_steps(g: &mut Graph, x: &str, lens: &str) -> String {
    let t = axis_len(g, x, 0);
    let scalar = g.ints(&[]);
    let t = g.op("Reshape", &[&t, &scalar], vec![]);
    let t = g.op("Cast", &[&t], vec![attr_int("to", dtype::INT32 as i64)]);
    let (start, step) = (g.scalar_i32(0), g.scalar_i32(1));
    let steps = g.op("Range", &[&start, &t, &step], vec![]);
    let col = g.ints(&[-1, 1]);
    let steps = g.op("Reshape", &[&steps, &col], vec![]);
    let row = g.ints(&[1, -1]);
    let l = g.op("Reshape", &[lens, &row], vec![]);
    g.op("Less", &[&steps, &l], vec![])
}
