# SPDX-License-Identifier: Apache-2.0
"""FusionNode lifecycle driven in-process (no traffic)."""

from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from fusion_ros.ros.fusion_node import FusionNode  # noqa: E402
from test.bounds import wait_until  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def ros_context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


def make_node(**overrides) -> FusionNode:
    params = [Parameter('autostart', value=False)]
    params += [Parameter(k.replace('__', '.'), value=v) for k, v in overrides.items()]
    return FusionNode(parameter_overrides=params)


def activate(node: FusionNode) -> None:
    """Activate and wait for the worker to warm up and subscribe (activation does not wait)."""
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    wait_until(lambda: not node.warming and len(node._subs) == 3, 'the warm node to subscribe')


def test_configure_activate_deactivate_cleanup(ros_context):
    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.engine is not None and node.engine.model_name == 'max'
        activate(node)
        assert len(node._subs) == 3  # thermal, RGB and the RGB CameraInfo
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node._subs == []
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.engine is None
    finally:
        node.destroy_node()


@pytest.mark.parametrize('overrides', [
    {'device': 'cuda:7'},
    {'qos__rgb__reliability': 'fastest'},
    {'thermal__agc': [99.0, 1.0]},
    {'registration__homography': [0.0] * 9},
    {'registration__homography': [1.0, 0.0, 0.0]},
])
def test_bad_configuration_fails_the_transition(ros_context, overrides):
    node = make_node(**overrides)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.engine is None
    finally:
        node.destroy_node()


def test_out_of_range_parameter_is_rejected(ros_context):
    node = make_node()
    try:
        result = node.set_parameters([Parameter('sync.slop', value=-1.0)])[0]
        assert not result.successful
        assert node.get_parameter('sync.slop').value == 0.025
    finally:
        node.destroy_node()


def test_runtime_model_swap_and_rejection_keep_a_model_serving(ros_context):
    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        old = node.engine
        result = node.set_parameters([Parameter('model', value='no_such_model')])[0]
        assert not result.successful and 'no_such_model' in result.reason
        assert node.engine is old and node.get_parameter('model').value == 'max'
        result = node.set_parameters([Parameter('device', value='cuda:7')])[0]
        assert not result.successful and node.engine is old
        result = node.set_parameters([Parameter('model', value='laplacian')])[0]
        assert result.successful
        assert node.engine is not old and node.engine.model_name == 'laplacian'
        assert node.config.model == 'laplacian'
    finally:
        node.destroy_node()


def test_backend_swaps_while_serving_and_a_bad_one_keeps_the_old(ros_context, tmp_path,
                                                                  monkeypatch):
    """``ros2 param set /fusion_node backend onnxruntime`` between frames: the network is
    exported (cached) off the live frames, the next pair runs in the runtime; an unknown
    backend or one whose package is missing is refused with the old engine kept."""
    import time

    from fusion_ros.engine import runtimes

    if runtimes.runtime_missing('onnxruntime'):
        pytest.skip(runtimes.runtime_missing('onnxruntime'))
    monkeypatch.setenv('FUSION_ROS_CACHE', str(tmp_path))
    node = make_node(model='fastfusion', backend='torch', precision='fp32')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        activate(node)
        torch_engine = node.engine
        assert torch_engine.runtime == 'torch'
        result = node.set_parameters([Parameter('backend', value='onnxruntime')])[0]
        assert result.successful, result.reason
        assert node.engine is not torch_engine and node.engine.runtime.startswith('onnxruntime')
        assert list(tmp_path.rglob('fastfusion-*.onnx'))  # exported while setting, cached
        node._slot.put((_image(10**9, 1), _image(10**9, 3), time.monotonic()))
        wait_until(lambda: node.stats.fused + node.stats.errors >= 1, 'the pair to be fused')
        assert node.stats.fused == 1 and node.stats.errors == 0
        served = node.engine
        for bad, why in (('tensorrt', 'unknown backend'), ('openvino', 'pip install')):
            if bad == 'openvino':
                monkeypatch.setattr(runtimes, 'runtime_missing', lambda n: f'pip install {n}')
            result = node.set_parameters([Parameter('backend', value=bad)])[0]
            assert not result.successful and why in result.reason, result.reason
            assert node.engine is served and node.get_parameter('backend').value == 'onnxruntime'
    finally:
        node.destroy_node()


def test_live_homography_max_rate_and_thresholds(ros_context):
    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        engine = node.engine
        assert engine.homography is None
        shift = [1.0, 0.0, 4.0, 0.0, 1.0, -2.0, 0.0, 0.0, 1.0]
        assert node.set_parameters([Parameter('registration.homography', value=shift)])[
            0].successful
        assert node.engine is engine  # no model rebuild for a new homography
        assert engine.homography is not None and engine.homography[0, 2] == 4.0
        bad = node.set_parameters([Parameter('registration.homography', value=[0.0] * 9)])[0]
        assert not bad.successful and 'singular' in bad.reason
        assert engine.homography[0, 2] == 4.0
        assert node.set_parameters([Parameter('max_rate', value=5.0)])[0].successful
        assert node.config.max_rate == 5.0
        flipped = node.set_parameters([Parameter('illumination.night_threshold', value=0.3)])
        assert flipped[0].successful and node._stream.settings.night_threshold == 0.3
    finally:
        node.destroy_node()


def test_max_rate_skips_and_counts_pairs(ros_context):
    from sensor_msgs.msg import Image

    node = make_node(model='max', max_rate=2.0)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        for _ in range(5):  # five pairs in a burst: one passes, four are skipped
            node.image_pair_cb(Image(), Image())
        assert node.stats.pairs == 5 and node.stats.rate_limited == 4
    finally:
        node.destroy_node()


class _Capture:
    def __init__(self):
        self.msgs = []

    def publish(self, msg):
        self.msgs.append(msg)


@pytest.mark.parametrize(('overrides', 'message'), [
    ({'model': 'no_such_model'}, 'no_such_model'),
    ({'weights': 'CORRUPT'}, 'weights_only=True'),
    ({'weights': 'MISSING'}, 'does not exist'),
])
def test_model_that_fails_to_load_keeps_the_node_up_and_recovers(ros_context, tmp_path,
                                                                 overrides, message):
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import Image

    corrupt = tmp_path / 'corrupt.pt'
    corrupt.write_bytes(b'\x80\x04 torn checkpoint')
    paths = {'CORRUPT': str(corrupt), 'MISSING': str(tmp_path / 'nothing.pt')}
    node = make_node(**{k: paths.get(v, v) for k, v in overrides.items()})
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.engine is None and message in node.load_error
        activate(node)
        node._fuse_and_publish(Image(), Image(), 0.0)  # a pair while nothing is loaded
        assert node.stats.no_model == 1
        node._pub_diag = capture = _Capture()
        node._publish_diagnostics()
        status = capture.msgs[-1].status[0]
        assert status.level == DiagnosticStatus.ERROR and message in status.message
        values = {kv.key: kv.value for kv in status.values}
        assert values['unfused (no model)'] == '1'
        # an unrelated parameter is accepted without retrying the broken model
        assert node.set_parameters([Parameter('max_rate', value=5.0)])[0].successful
        assert node.engine is None
        # a still-broken choice is rejected with the reason; a good one loads at once
        bad = node.set_parameters_atomically([Parameter('model', value='laplacian'),
                                              Parameter('weights', value=str(corrupt))])
        assert not bad.successful and 'weights_only' in bad.reason
        assert node.engine is None
        fixed = node.set_parameters_atomically([Parameter('model', value='max'),
                                                Parameter('weights', value='')])
        assert fixed.successful, fixed.reason
        assert node.engine is not None and node.engine.model_name == 'max'
        assert node.load_error is None
        node._publish_diagnostics()
        assert capture.msgs[-1].status[0].level != DiagnosticStatus.ERROR
    finally:
        node.destroy_node()


def _image(stamp_ns: int, channels: int):
    from sensor_msgs.msg import Image

    msg = Image(height=8, width=8, encoding='rgb8' if channels == 3 else 'mono8',
                step=8 * channels, data=bytes(64 * channels))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return msg


def test_no_exception_escapes_any_callback_kind(ros_context, monkeypatch):
    """A failure injected into each kind of rclpy callback is counted by cause and logged;
    the node keeps serving (an exception escaping a callback would end rclpy.spin)."""
    import fusion_ros.ros.fusion_node as fusion_node
    import fusion_ros.ros.fusion_outputs as fusion_outputs

    node = make_node(model='max')
    try:
        # lifecycle transition: configure fails cleanly, then succeeds once the fault is gone
        with monkeypatch.context() as m:
            m.setattr(fusion_outputs, 'make_qos',
                      lambda *a: (_ for _ in ()).throw(OSError('boom')))
            assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        activate(node)
        # subscription
        with monkeypatch.context() as m:
            m.setattr(node._stream, 'add', lambda *a: 1 / 0)
            node.thermal_cb(_image(10**9, 1))
        # timer
        with monkeypatch.context() as m:
            m.setattr(fusion_node, 'diagnostic_array', lambda *a: [][1])
            node._publish_diagnostics()
        # parameter callback: rejected with the reason, the old value stays
        with monkeypatch.context() as m:
            m.setattr(fusion_node.FusionNodeConfig, 'from_params',
                      classmethod(lambda cls, v: {}['missing']))
            result = node.set_parameters([Parameter('max_rate', value=5.0)])[0]
        assert not result.successful and 'KeyError' in result.reason
        assert node.get_parameter('max_rate').value == 0.0
        assert dict(node.callback_errors) == {
            'lifecycle on_configure: OSError': 1,
            'subscription thermal_cb: ZeroDivisionError': 1,
            'timer _publish_diagnostics: IndexError': 1,
            'parameter _on_set_params: KeyError': 1,
        }
        # and it still pairs and publishes diagnostics
        node.thermal_cb(_image(2 * 10**9, 1))
        node.rgb_cb(_image(2 * 10**9 + 1000, 3))
        assert node.stats.pairs == 1
        node._publish_diagnostics()
        assert len(node.callback_errors) == 4
    finally:
        node.trigger_deactivate()
        node.destroy_node()


def test_registration_score_falls_when_a_camera_moves(ros_context):
    """Edge agreement every N-th frame in /diagnostics; a thermal camera knocked 25 px
    sideways after start-up turns the status WARN; a new homography starts a new baseline."""
    import time

    from diagnostic_msgs.msg import DiagnosticStatus
    from std_msgs.msg import Header

    from fusion_ros.data.synthetic import SynthConfig, generate_sequence
    from fusion_ros.ros.node_support import image_message

    frames = list(generate_sequence(SynthConfig(width=320, height=256, seconds=0.5, seed=4)))
    node = make_node(model='max', registration__check_every=1)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        activate(node)
        node._pub_diag = capture = _Capture()

        def feed(batch, shift):
            for f in batch:
                thermal = np.roll(f.thermal, shift, axis=1)
                node._fuse_and_publish(image_message(thermal, Header()),
                                       image_message(f.rgb, Header()), 0.0)
            node.stats.last_thermal = node.stats.last_rgb = time.monotonic()  # not silent
            node._publish_diagnostics()
            status = capture.msgs[-1].status[0]
            return status, {kv.key: kv.value for kv in status.values}

        status, values = feed(frames[:5], 0)
        start = float(values['registration score at start'])
        assert status.level == DiagnosticStatus.OK and start > 0.3
        status, values = feed(frames[5:10], 25)
        assert float(values['registration score']) < 0.6 * start
        assert status.level == DiagnosticStatus.WARN
        assert 'registration score fell' in status.message
        assert node.stats.fused == 10 and node.stats.errors == 0
        shifted = [1.0, 0.0, -25.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        assert node.set_parameters([Parameter('registration.homography', value=shifted)])[
            0].successful
        assert node._registration.start is None  # the old baseline means nothing now
        status, values = feed(frames[:5], 25)  # the new homography undoes the shift
        assert status.level == DiagnosticStatus.OK
        assert float(values['registration score at start']) > 0.3
    finally:
        node.destroy_node()


def test_warm_up_runs_on_the_inference_thread_before_subscribing(ros_context, monkeypatch):
    """cuDNN/cuBLAS state is per thread: warming up on the configuring thread left the real
    first frame to pay. The worker warms at activation (before the node subscribes, so no
    frame waits or is dropped meanwhile) and warms a swapped-in model at its first frame's
    size."""
    import threading
    import time

    from fusion_ros.engine.engine import FusionEngine

    calls = []
    real = FusionEngine.warmup

    def recording(self, width, height, *args, **kwargs):
        calls.append((self.model_name, threading.current_thread().name, width, height,
                      len(node._subs)))
        return real(self, width, height, *args, **kwargs)

    monkeypatch.setattr(FusionEngine, 'warmup', recording)
    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert calls == []  # not on the configuring thread any more
        activate(node)
        assert calls == [('max', 'fusion_worker', 640, 512, 0)]  # before the subscriptions
        assert node.set_parameters([Parameter('model', value='laplacian')])[0].successful
        assert len(calls) == 1  # the parameter thread does not warm it
        node._slot.put((_image(10**9, 1), _image(10**9, 3), time.monotonic()))
        wait_until(lambda: node.stats.fused + node.stats.errors >= 1, 'the pair to be fused')
        assert node.stats.fused == 1 and node.stats.errors == 0
        assert calls[1:] == [('laplacian', 'fusion_worker', 8, 8, 3)]
        # re-activation with the same engine does not warm again
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        activate(node)
        assert len(calls) == 2
    finally:
        node.destroy_node()


def test_activation_does_not_wait_for_the_warm_up(ros_context, monkeypatch):
    """A slow model warms up for seconds on a CPU: the transition returns at once, the node
    says 'warming up' (ready false) on /diagnostics and subscribes when warm; a node
    deactivated or destroyed while warming never subscribes."""
    import threading

    from diagnostic_msgs.msg import DiagnosticStatus

    from fusion_ros.engine.engine import FusionEngine

    release = threading.Event()
    monkeypatch.setattr(FusionEngine, 'warmup', lambda self, *a, **k: release.wait(30))
    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS  # not blocked
        assert node.warming and node._subs == []
        node._pub_diag = capture = _Capture()
        node._publish_diagnostics()
        status = capture.msgs[-1].status[0]
        values = {kv.key: kv.value for kv in status.values}
        assert status.level == DiagnosticStatus.OK and 'warming up' in status.message
        assert values['ready'] == 'false'
        release.set()
        wait_until(lambda: len(node._subs) == 3, 'the warm node to subscribe')
        node._publish_diagnostics()
        assert {kv.key: kv.value for kv in capture.msgs[-1].status[0].values}['ready'] == 'true'
        # deactivated while warming: the late warm-up does not subscribe
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        release.clear()
        node._warmer.forget()  # warm again at this activation
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        warming = node._start.thread
        assert warming is not None and node.warming
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        release.set()
        wait_until(lambda: not warming.is_alive(), 'the late warm-up to end')
        assert node._subs == [] and not node.warming
    finally:
        release.set()
        node.destroy_node()


def test_images_lost_in_transport_are_counted_per_input_and_warned(ros_context):
    """The subscription callbacks rclpy calls get the MessageInfo: gaps in the publisher's
    sequence numbers (a starved node's queue overwrote them) show per input in
    /diagnostics, turn the status WARN and still pair what arrived."""
    import time

    from diagnostic_msgs.msg import DiagnosticStatus

    def info(seq: int) -> dict:
        return {'publication_sequence_number': seq, 'publisher_gid': {'data': b'cam'}}

    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        activate(node)
        node._pub_diag = capture = _Capture()
        receive_thermal, receive_rgb = (sub.callback for sub in node._subs[:2])
        for k, seq in enumerate((1, 2, 5)):  # thermal 3 and 4 were overwritten
            receive_thermal(_image((k + 1) * 10**9, 1), info(seq))
            receive_rgb(_image((k + 1) * 10**9 + 1000, 3), info(k + 1))
        node.stats.last_thermal = node.stats.last_rgb = time.monotonic()  # not silent
        node._publish_diagnostics()
        status = capture.msgs[-1].status[0]
        values = {kv.key: kv.value for kv in status.values}
        assert values['thermal lost in transport'] == '2'
        assert values['rgb lost in transport'] == '0'
        assert status.level == DiagnosticStatus.WARN and '2 thermal' in status.message
        assert node.stats.pairs == 3
        node._publish_diagnostics()  # no new loss: no longer a warning
        assert capture.msgs[-1].status[0].level == DiagnosticStatus.OK
    finally:
        node.trigger_deactivate()
        node.destroy_node()


@pytest.mark.parametrize(('threads', 'expected'), [(0, 'of up to'), (1, 'as set')])
def test_cpu_threads_are_applied_at_configure_and_reported(ros_context, threads, expected):
    import torch

    from fusion_ros.threads import usable_cpus

    torch.set_num_threads(2)
    node = make_node(model='max', threads=threads)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        count = threads or usable_cpus()  # auto starts from every usable CPU
        assert torch.get_num_threads() == count == node.engine.threads.count
        assert (node.engine.governor is not None) == (threads == 0)
        node._pub_diag = capture = _Capture()
        node._publish_diagnostics()
        values = {kv.key: kv.value for kv in capture.msgs[-1].status[0].values}
        assert values['threads'].startswith(f'{count} ') and expected in values['threads']
        # process-wide, set at start: not changed under a running worker
        assert not node.set_parameters([Parameter('threads', value=2)])[0].successful
    finally:
        node.destroy_node()


def test_destroying_a_serving_node_lets_the_frame_in_flight_finish_first(ros_context,
                                                                         monkeypatch):
    """No inference thread outlives its node: a frame being fused when the node is
    destroyed (no deactivation first) ends and is published before the publishers go."""
    import threading
    import time

    from fusion_ros.engine.engine import FusionEngine

    entered, release = threading.Event(), threading.Event()
    real_fuse = FusionEngine.fuse

    def slow_fuse(self, *args, **kwargs):
        entered.set()
        release.wait(30)
        return real_fuse(self, *args, **kwargs)

    node = make_node(model='max')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        activate(node)
        monkeypatch.setattr(FusionEngine, 'fuse', slow_fuse)
        worker = node._start.thread
        node._slot.put((_image(10**9, 1), _image(10**9, 3), time.monotonic()))
        wait_until(entered.is_set, 'the frame to reach the model')
        threading.Timer(0.2, release.set).start()
    finally:
        if not entered.is_set():  # failed before the frame: nothing to wait for
            release.set()
        node.destroy_node()
    assert not worker.is_alive()
    assert node.stats.fused == 1 and node.stats.errors == 0
