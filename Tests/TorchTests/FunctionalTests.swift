import Testing
@testable import Torch

@Suite struct FunctionalTests {
    @Test func linearEqualsPyTorchs() {
        let x = Fixtures.tensor("fn.linear_x"), w = Fixtures.tensor("fn.linear_w"), b = Fixtures.tensor("fn.linear_b")
        expectFixture(F.linear(x, weight: w, bias: b), "fn.linear")
        expectFixture(F.linear(x, weight: w), "fn.linear_nobias")
    }

    @Test func convolutionsEqualPyTorchs() {
        let x = Fixtures.tensor("fn.conv_x"), w = Fixtures.tensor("fn.conv_w"), b = Fixtures.tensor("fn.conv_b")
        let strided = F.conv1d(x, weight: w, bias: b, stride: 2, padding: 1)
        #expect(strided.shape == [2, 4, 4])
        expectFixture(strided, "fn.conv1d")
        expectFixture(F.conv1d(x, weight: w, dilation: 2), "fn.conv1d_dilated")
        expectFixture(F.conv1d(x, weight: Fixtures.tensor("fn.conv_groups_w"), padding: 1, groups: 3), "fn.conv1d_groups")
        let tx = Fixtures.tensor("fn.convt_x"), tw = Fixtures.tensor("fn.convt_w"), tb = Fixtures.tensor("fn.convt_b")
        let up = F.convTranspose1d(tx, weight: tw, bias: tb, stride: 2, padding: 1, outputPadding: 1)
        #expect(up.shape == [2, 3, 10])
        expectFixture(up, "fn.conv_transpose1d")
    }

    @Test func normalisationsEqualPyTorchs() {
        let x = Fixtures.tensor("fn.ln_x")
        expectFixture(F.layerNorm(x, [4], weight: Fixtures.tensor("fn.ln_w"), bias: Fixtures.tensor("fn.ln_b")),
                      "fn.layer_norm")
        expectFixture(F.layerNorm(x, [3, 4], eps: 1e-3), "fn.layer_norm_2d_plain")
        let g = Fixtures.tensor("fn.gn_x")
        expectFixture(F.groupNorm(g, groups: 3, weight: Fixtures.tensor("fn.gn_w"), bias: Fixtures.tensor("fn.gn_b")),
                      "fn.group_norm")
        expectFixture(F.groupNorm(g, groups: 2), "fn.group_norm_plain")
    }

    @Test func activationsEqualPyTorchs() {
        let x = Fixtures.tensor("fn.act_x")
        expectFixture(F.softmax(x, dim: -1), "fn.softmax")
        expectFixture(x.softmax(-1), "fn.softmax")
        expectFixture(F.logSoftmax(x, dim: 0), "fn.log_softmax0")
        expectFixture(F.gelu(x), "fn.gelu")
        expectFixture(F.gelu(x, approximate: true), "fn.gelu_tanh")
        expectFixture(F.silu(x), "fn.silu")
        expectFixture(F.mish(x), "fn.mish")
    }

    @Test func dropoutIsIdentityWhenOffAndPyTorchsMaskWhenSeeded() {
        let x = Fixtures.tensor("fn.act_x")
        expectEqual(F.dropout(x, p: 0, training: true), x)
        expectEqual(F.dropout(x, p: 0.9, training: false), x)
        let expected = Fixtures.tensor("fn.dropout_seeded")
        let dropped = SeededDraws.draw(seed: 7, matching: expected) { F.dropout(x, p: 0.4, training: true) }
        expectEqual(dropped, expected)
        // kept elements are scaled by 1 / (1 - p)
        let kept = dropped.toArray(Double.self).enumerated().filter { $0.element != 0 }
        let source = x.toArray(Double.self)
        #expect(!kept.isEmpty)
        for (i, v) in kept { #expect(Swift.abs(v - source[i] / 0.6) < 1e-5) }
        let layer = Dropout(0.5)
        layer.eval()
        expectEqual(layer(x), x)
    }

    @Test func attentionEqualsPyTorchs() {
        let q = Fixtures.tensor("fn.q"), k = Fixtures.tensor("fn.k"), v = Fixtures.tensor("fn.v")
        let plain = F.scaledDotProductAttention(q, k, v)
        #expect(plain.shape == [2, 3, 6])
        expectFixture(plain, "fn.sdpa")
        expectFixture(F.scaledDotProductAttention(q, k, v, mask: Fixtures.tensor("fn.bool_mask")), "fn.sdpa_bool")
        expectFixture(F.scaledDotProductAttention(q, k, v, mask: Fixtures.tensor("fn.float_mask")), "fn.sdpa_float")
        expectFixture(F.scaledDotProductAttention(q, k, v, scale: 0.3), "fn.sdpa_scale")
        let k3 = k[.all, 0..<3], v3 = v[.all, 0..<3]
        expectFixture(F.scaledDotProductAttention(q, k3, v3, isCausal: true), "fn.sdpa_causal")
        // a hand check of one causal row: the first query sees only the first key
        let causal = F.scaledDotProductAttention(q, k3, v3, isCausal: true)
        expectClose(causal[.all, 0], v3[.all, 0])
        let expected = Fixtures.tensor("fn.sdpa_dropout")
        let dropped = SeededDraws.draw(seed: 8, matching: expected) {
            F.scaledDotProductAttention(q, k, v, dropout: 0.3)
        }
        expectClose(dropped, expected)
    }

    @Test func crossEntropyEqualsPyTorchs() {
        let logits = Fixtures.tensor("fn.logits"), target = Fixtures.tensor("fn.target")
        let probs = Fixtures.tensor("fn.probs")
        expectFixture(F.crossEntropy(logits, target), "fn.ce")
        expectFixture(F.crossEntropy(logits, target, reduction: .none), "fn.ce_none")
        expectFixture(F.crossEntropy(logits, target, reduction: .sum, labelSmoothing: 0.1), "fn.ce_sum_smooth")
        expectFixture(F.crossEntropy(logits, Tensor([1, -100, 4, -100] as [Int])), "fn.ce_ignore")
        expectFixture(F.crossEntropy(logits, probs), "fn.ce_probs")
        expectFixture(F.crossEntropy(logits, probs, labelSmoothing: 0.2), "fn.ce_probs_smooth")
        // by hand: -log_softmax at the target, averaged
        let byHand = -F.logSoftmax(logits, dim: 1).gather(1, target.unsqueeze(1)).mean()
        expectClose(F.crossEntropy(logits, target), byHand)
    }

    @Test func regressionLossesEqualPyTorchs() {
        let a = Fixtures.tensor("fn.loss_a"), b = Fixtures.tensor("fn.loss_b")
        expectFixture(F.mseLoss(a, b), "fn.mse")
        expectFixture(F.mseLoss(a, b, reduction: .sum), "fn.mse_sum")
        expectFixture(F.l1Loss(a, b), "fn.l1")
        expectFixture(F.l1Loss(a, b, reduction: .none), "fn.l1_none")
    }

    @Test func similaritiesAndDistancesEqualPyTorchs() {
        let a = Fixtures.tensor("fn.loss_a"), b = Fixtures.tensor("fn.loss_b")
        expectFixture(F.normalize(a), "fn.normalize")
        expectFixture(F.normalize(a, p: 1, dim: 0), "fn.normalize_p1_dim0")
        expectFixture(F.cosineSimilarity(a, b), "fn.cosine")
        expectFixture(F.cosineSimilarity(a, b, dim: 0), "fn.cosine_dim0")
        let d = a[0..<2, 0..<3].cdist(b[.all, 0..<3])
        #expect(d.shape == [2, 3])
        expectFixture(d, "fn.cdist")
        expectFixture(a[0..<2, 0..<3].cdist(b[.all, 0..<3], p: 1), "fn.cdist_p1")
        // a zero row stays zero instead of dividing by zero
        #expect(F.normalize(Tensor.zeros([1, 3])).toArray(Float.self) == [0, 0, 0])
    }
}
