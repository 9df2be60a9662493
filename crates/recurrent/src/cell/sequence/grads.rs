//! After a backward walk over time: the weight and input gradients from the gate gradients
//! of every step, each one large product (what makes BPTT's bookkeeping cheap: the time
//! loop only produces the gate gradients).

use super::{add_col_sums, DirCache, DirParams};
use crate::float::Float;
use crate::kernels::packed::{gemm_packed_par, Packed};
use crate::kernels::{gemm, workspace, MatMut, MatRef};

/// Step 4 of [`super`]: the weight and input gradients from the gate gradients, one product each
/// over all steps: dW_ih += da^T X, dW_hh += da^T H_prev (dah^T for PyTorch's GRU; the seeds' n
/// block against rh), dW_hr += dh^T M; bias gradients as column sums; dX = da W_ih.
#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grads<F: Float>(
    p: &mut DirParams<F>,
    cache: &DirCache<F>,
    x: &[F],
    da: &[F],
    dah: &[F],
    dhs: &[F],
    dx: &mut [F],
) {
    let spec = cache.spec;
    let (t_len, b) = (cache.t, cache.b);
    let (i_sz, h, ho, gh) = (
        spec.input,
        spec.hidden,
        spec.hout(),
        spec.gates() * spec.hidden,
    );
    let (tb, nh) = (t_len * b, b * ho);
    let h_prev_all = if cache.reverse {
        &cache.hb[2 * nh..]
    } else {
        &cache.hb[..t_len * nh]
    };
    gemm(
        F::one(),
        MatRef::new(da, tb, gh).t(),
        MatRef::new(x, tb, i_sz),
        F::one(),
        MatMut::new(p.w_ih.grad.data_mut(), gh, i_sz),
    );
    if let (true, Some(w_hh)) = (spec.seeds(), &mut p.w_hh) {
        let (g_rz, g_n) = w_hh.grad.data_mut().split_at_mut(2 * h * h);
        gemm(
            F::one(),
            MatRef::strided(da, tb, 2 * h, gh).t(),
            MatRef::new(h_prev_all, tb, h),
            F::one(),
            MatMut::new(g_rz, 2 * h, h),
        );
        gemm(
            F::one(),
            MatRef::strided(&da[2 * h..], tb, h, gh).t(),
            MatRef::new(&cache.rh, tb, h),
            F::one(),
            MatMut::new(g_n, h, h),
        );
    } else if let Some(w_hh) = &mut p.w_hh {
        let dah_ref: &[F] = if dah.is_empty() { da } else { dah };
        gemm(
            F::one(),
            MatRef::new(dah_ref, tb, gh).t(),
            MatRef::new(h_prev_all, tb, ho),
            F::one(),
            MatMut::new(w_hh.grad.data_mut(), gh, ho),
        );
    }
    // d b_ih = column sums of da; d b_hh the same for RNN and LSTM (one sum, added to
    // both), of dah for PyTorch's GRU.
    let mut db = workspace::zeros(gh);
    add_col_sums(&mut db, da);
    if let Some(bi) = &mut p.b_ih {
        bi.grad
            .data_mut()
            .iter_mut()
            .zip(&db)
            .for_each(|(g, v)| *g += *v);
    }
    if let Some(bh) = &mut p.b_hh {
        if !dah.is_empty() {
            db.iter_mut().for_each(|v| *v = F::zero());
            add_col_sums(&mut db, dah);
        }
        bh.grad
            .data_mut()
            .iter_mut()
            .zip(&db)
            .for_each(|(g, v)| *g += *v);
    }
    workspace::give(db);
    if let Some(w_hr) = &mut p.w_hr {
        gemm(
            F::one(),
            MatRef::new(dhs, tb, ho).t(),
            MatRef::new(&cache.m, tb, h),
            F::one(),
            MatMut::new(w_hr.grad.data_mut(), ho, h),
        );
    }
    // dX += da W_ih: the packed kernel, W_ih packed once (1.5x matrixmultiply on the
    // S shape [2048, 512] x [512, 64], which repacked W_ih per thread).
    let mut packed_ih = Packed::new();
    packed_ih.pack(p.w_ih.value.data(), gh, i_sz, i_sz);
    gemm_packed_par(tb, da, gh, 1, &packed_ih, dx, i_sz, false);
}
